"""The requests service: service catalogue, requests and their fulfilment, work orders, dispatch."""
