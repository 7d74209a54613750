"""The knowledge service: articles with versions, feedback and review dates; known errors drafted as articles;
suggestions for the incident or request at hand."""
