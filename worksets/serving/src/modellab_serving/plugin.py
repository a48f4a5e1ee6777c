"""The pluggy entry point (``modellab.worksets``: ``serving``).

Importing this module is cheap: the recipes and the converters load only when the core
asks for a plan.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from modellab.workset import hookimpl

if TYPE_CHECKING:
    from modellab.workset import BackendDescriptor, ServeRequest, ServeResult

__all__ = ["ServingPlugin", "plan_server", "plugin"]

#: (name, summary): every backend the workset registers.
_BACKENDS = (
    ("llama.cpp", "llama-cpp-python's OpenAI server on a GGUF (candidates converted): CPU or GPU"),
    ("vllm", "vLLM's OpenAI server, tool-call and reasoning parsers from the model (NVIDIA GPU)"),
    ("sglang", "SGLang's OpenAI server, tool-call and reasoning parsers from the model (GPU)"),
    ("tgi", "Text Generation Inference (maintenance mode upstream: prefer vllm or sglang)"),
    ("ollama", "Ollama, where it is installed (no forced tool_choice on its OpenAI API)"),
)
#: Backends that serve GGUF files: a candidate's weights are converted for them.
_GGUF_BACKENDS = frozenset({"llama.cpp", "ollama"})


def plan_server(request: ServeRequest) -> ServeResult:
    """The launch plan for ``request``: the stack is looked for first (a missing one is a
    one-line error naming it), then the weights are converted where the backend needs
    GGUF, then the recipe answers."""
    from modellab_serving import recipes
    from modellab_serving._stacks import Machine, find

    find(recipes.STACKS[request.backend], Machine())
    gguf = lora = None
    if request.backend in _GGUF_BACKENDS:
        from modellab_serving.convert import prepare

        gguf, lora = prepare(request)
    return recipes.plan(request, gguf=gguf, lora=lora)


class ServingPlugin:
    """Implements ``modellab_register_servers``."""

    @hookimpl
    def modellab_register_servers(
        self,
        register: Callable[[BackendDescriptor, Callable[[ServeRequest], ServeResult]], None],
    ) -> None:
        """Register the five backends; one handler plans for all of them."""
        from modellab.workset import BackendDescriptor

        for name, summary in _BACKENDS:
            accepts = (
                ["gguf", "safetensors", "adapter"]
                if name in _GGUF_BACKENDS
                else [
                    "safetensors",
                    "adapter",
                ]
            )
            register(BackendDescriptor(name=name, summary=summary, accepts=accepts), plan_server)


plugin = ServingPlugin()
