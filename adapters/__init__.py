"""touchstream.adapters — every door to the world: logs, read stores, the SDK, the CLI, the gateway."""

from .publisher import Publisher, PublishError, Receipt

__all__ = ["PublishError", "Publisher", "Receipt"]
