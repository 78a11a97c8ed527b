"""The gateway's application layer beyond `service.py`: one module per use case."""
