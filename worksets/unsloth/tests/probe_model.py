"""Score a model (optionally with a PEFT adapter) on one conversation, in a fresh interpreter.

    python probe_model.py BASE_DIR ADAPTER_DIR|- CONVERSATION.json

Prints JSON: ``answer_logprob`` (mean log-probability of the last assistant message's
tokens, given the conversation before it), ``greedy`` (the greedy continuation of the
prompt, as many tokens as the answer has) and ``answer`` (the answer's text).
A subprocess for the reason given in run_trainer.py.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    base, adapter, conversation_file = Path(argv[0]), argv[1], Path(argv[2])
    row = json.loads(conversation_file.read_text())
    tokenizer = AutoTokenizer.from_pretrained(base)
    model = AutoModelForCausalLM.from_pretrained(base, dtype=torch.float32)
    if adapter != "-":
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, adapter)
        assert any("lora_" in name for name, _ in model.named_parameters())
    model.eval()
    messages, tools = row["messages"], row.get("tools") or None
    prompt = tokenizer.apply_chat_template(
        messages[:-1], tools=tools, tokenize=False, add_generation_prompt=True
    )
    full = tokenizer.apply_chat_template(messages, tools=tools, tokenize=False)
    # The trained part ends at the end-of-turn token; what the template adds after it
    # (a newline) is outside the generation block and was never trained.
    answer = full[len(prompt) :]
    if tokenizer.eos_token and tokenizer.eos_token in answer:
        answer = answer[: answer.rindex(tokenizer.eos_token) + len(tokenizer.eos_token)]
    full = prompt + answer
    prompt_ids = tokenizer(prompt, add_special_tokens=False)["input_ids"]
    full_ids = tokenizer(full, add_special_tokens=False)["input_ids"]
    answer_ids = full_ids[len(prompt_ids) :]
    with torch.no_grad():
        logits = model(torch.tensor([full_ids])).logits[0]
        logprobs = torch.log_softmax(logits[:-1].float(), dim=-1)
        targets = torch.tensor(full_ids[1:])
        picked = logprobs[torch.arange(len(targets)), targets][len(prompt_ids) - 1 :]
        generated = model.generate(
            torch.tensor([prompt_ids]),
            attention_mask=torch.ones(1, len(prompt_ids), dtype=torch.long),
            max_new_tokens=len(answer_ids),
            do_sample=False,
            pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id,
        )[0][len(prompt_ids) :]
    print(
        json.dumps(
            {
                "answer_logprob": float(picked.mean()),
                "greedy": tokenizer.decode(generated, skip_special_tokens=False),
                "answer": answer,
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
