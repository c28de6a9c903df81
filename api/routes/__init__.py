"""The service's routes, by resource: forecast jobs, the catalogue of inputs, operations."""
