"""The knowledge domain, pure: articles and their versions (articles.py), Markdown made safe (markdown.py),
what to suggest for a record (suggestions.py)."""
