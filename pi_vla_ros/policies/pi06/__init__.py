"""π0.6-style policy: frozen PaliGemma + cross-attention action expert (FACTS.md §6)."""

from .configuration import Pi06Config
from .modeling import Pi06Model
from .policy import Pi06Policy
from .processing import NormStats, Normalizer, Pi06Processor

__all__ = ["Normalizer", "NormStats", "Pi06Config", "Pi06Model", "Pi06Policy", "Pi06Processor"]
