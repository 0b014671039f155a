"""π0 / π0.5 policy: PaliGemma + Gemma action expert as a mixture of transformers (FACTS.md §2-3)."""

from .configuration import Pi0Config
from .policy import Pi0Policy
from .processing import Pi0Processor
from .weights import load_weights, save_weights, state_dict_openpi

__all__ = ["Pi0Config", "Pi0Policy", "Pi0Processor", "load_weights", "save_weights", "state_dict_openpi"]
