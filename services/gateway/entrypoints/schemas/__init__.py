"""Request and response bodies of the public API, one module per route module, with Vietnamese
examples for the OpenAPI docs (`common` holds what several of them share)."""
