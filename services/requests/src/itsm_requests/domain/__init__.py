"""The rules of the requests service, pure: the catalogue and its forms (catalogue), requests and their fulfilment
flows (requests, flows), work-order templates (work_orders) and dispatch (dispatch)."""
