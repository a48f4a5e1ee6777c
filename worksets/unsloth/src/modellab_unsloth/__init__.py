"""Model Lab workset ``unsloth``: local fine-tuning trainers.

Two trainers, registered through ``modellab_register_trainers``: ``trl`` (TRL + PEFT, on a
CPU or a GPU) and ``unsloth`` (Unsloth's ``FastLanguageModel``, CUDA only). Both take a
:class:`modellab.workset.TrainRequest` and return a :class:`modellab.workset.TrainResult`.
"""
