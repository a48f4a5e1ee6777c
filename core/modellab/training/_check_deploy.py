"""Preflight check 5, ``deployability``: can the result be merged, converted to GGUF and
served (llama.cpp, vLLM, SGLang) for this architecture."""

from __future__ import annotations

from typing import Any

from modellab.training._checks import (
    Check,
)

__all__ = [
    "GGUF_MODEL_TYPES",
    "SGLANG_ARCHITECTURES",
    "VLLM_ARCHITECTURES",
    "check_deployability",
]

#: Hugging Face ``model_type`` -> the llama.cpp architecture ``convert_hf_to_gguf.py``
#: writes for it. The right-hand names are llama.cpp's own (``MODEL_ARCH_NAMES`` in
#: gguf-py 0.19.0, which ships from the llama.cpp tree; a test checks them against the
#: installed ``gguf``); the left-hand side is the ``model_type`` of the HF classes its
#: converter registers, for the families this lab is likely to meet.
GGUF_MODEL_TYPES: dict[str, str] = {
    "llama": "llama", "mistral": "llama", "mixtral": "llama", "granite": "granite",
    "granitemoe": "granitemoe", "qwen2": "qwen2", "qwen2_moe": "qwen2moe", "qwen3": "qwen3",
    "qwen3_moe": "qwen3moe", "gemma": "gemma", "gemma2": "gemma2", "gemma3": "gemma3",
    "gemma3_text": "gemma3", "phi": "phi2", "phi3": "phi3", "phimoe": "phimoe",
    "starcoder2": "starcoder2", "gpt2": "gpt2", "gpt_neox": "gptneox", "gptj": "gptj",
    "falcon": "falcon", "stablelm": "stablelm", "olmo": "olmo", "olmo2": "olmo2",
    "olmoe": "olmoe", "cohere": "command-r", "cohere2": "cohere2", "deepseek_v2": "deepseek2",
    "deepseek_v3": "deepseek2", "internlm2": "internlm2", "smollm3": "smollm3",
    "exaone": "exaone", "glm4": "glm4", "glm4_moe": "glm4moe", "gpt_oss": "gpt-oss",
    "minicpm": "minicpm", "nemotron": "nemotron", "bloom": "bloom", "mpt": "mpt",
}  # fmt: skip
#: Architectures vLLM serves (its "List of Supported Models", text generation), for the
#: families above; not checked against a pinned release. Unknown here means "not known
#: to", and preflight says so.
VLLM_ARCHITECTURES = frozenset({
    "LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM", "Qwen2ForCausalLM",
    "Qwen2MoeForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "GemmaForCausalLM",
    "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Gemma3ForConditionalGeneration",
    "PhiForCausalLM", "Phi3ForCausalLM", "PhiMoEForCausalLM", "Starcoder2ForCausalLM",
    "GPT2LMHeadModel", "GPTNeoXForCausalLM", "GPTJForCausalLM", "FalconForCausalLM",
    "StableLmForCausalLM", "OlmoForCausalLM", "Olmo2ForCausalLM", "OlmoeForCausalLM",
    "CohereForCausalLM", "Cohere2ForCausalLM", "DeepseekV2ForCausalLM",
    "DeepseekV3ForCausalLM", "InternLM2ForCausalLM", "GraniteForCausalLM",
    "GraniteMoeForCausalLM", "ExaoneForCausalLM", "Glm4ForCausalLM", "Glm4MoeForCausalLM",
    "GptOssForCausalLM", "SmolLM3ForCausalLM", "MiniCPMForCausalLM", "NemotronForCausalLM",
    "BloomForCausalLM", "MPTForCausalLM",
})  # fmt: skip
#: Architectures SGLang serves (its "Generative Models" list), for the same families.
SGLANG_ARCHITECTURES = frozenset({
    "LlamaForCausalLM", "MistralForCausalLM", "MixtralForCausalLM", "Qwen2ForCausalLM",
    "Qwen2MoeForCausalLM", "Qwen3ForCausalLM", "Qwen3MoeForCausalLM", "GemmaForCausalLM",
    "Gemma2ForCausalLM", "Gemma3ForCausalLM", "Gemma3ForConditionalGeneration",
    "Phi3ForCausalLM", "PhiMoEForCausalLM", "StableLmForCausalLM", "OlmoForCausalLM",
    "Olmo2ForCausalLM", "OlmoeForCausalLM", "CohereForCausalLM", "DeepseekV2ForCausalLM",
    "DeepseekV3ForCausalLM", "InternLM2ForCausalLM", "GraniteForCausalLM",
    "GraniteMoeForCausalLM", "ExaoneForCausalLM", "Glm4ForCausalLM", "Glm4MoeForCausalLM",
    "GptOssForCausalLM", "MiniCPMForCausalLM", "GPT2LMHeadModel",
})  # fmt: skip


def check_deployability(config: dict[str, Any] | str, method: str) -> Check:
    name = "deployability"
    if isinstance(config, str):
        return Check(name, "fail", config, {})
    architectures = [a for a in config.get("architectures") or [] if isinstance(a, str)]
    model_type = config.get("model_type")
    details: dict[str, Any] = {"architectures": architectures, "model_type": model_type}
    if architectures and not any(
        a.endswith(("ForCausalLM", "LMHeadModel", "ForConditionalGeneration"))
        for a in architectures
    ):
        return Check(
            name,
            "fail",
            f"config.json: {', '.join(architectures)} is not a "
            "causal language model; it cannot be fine-tuned for chat",
            details,
        )
    gguf = GGUF_MODEL_TYPES.get(str(model_type))
    vllm = sorted(set(architectures) & VLLM_ARCHITECTURES)
    sglang = sorted(set(architectures) & SGLANG_ARCHITECTURES)
    details.update(gguf_arch=gguf, vllm=bool(vllm), sglang=bool(sglang))
    merge = (
        "the LoRA adapter merges into the base weights"
        if method != "sft-full"
        else ("the full weights are saved")
    )
    servers = [s for s, ok in (("vLLM", vllm), ("SGLang", sglang)) if ok]
    served = f"; served by {' and '.join(servers)}" if servers else ""
    if gguf is None:
        reason = (
            f"config.json: model_type {model_type!r} ({', '.join(architectures) or 'none'}) "
            "is not on the list llama.cpp's convert_hf_to_gguf.py is known to convert"
            f"{served or '; nor on the vLLM/SGLang lists'}: unknown whether it can be served"
        )
        return Check(name, "warn", reason, details)
    reason = (
        f"{model_type}: {merge}, converts to GGUF (llama.cpp arch {gguf}) for the llama.cpp "
        f"server{served}"
    )
    return Check(name, "pass", reason, details)
