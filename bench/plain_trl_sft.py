"""The baseline for ``bench/training.py``: a plain TRL ``SFTTrainer`` script, as a user would
write it, on the same model, rows and hyper-parameters as ``modellab train --backend trl``.

    python bench/plain_trl_sft.py MODEL_DIR ROWS.jsonl OUT_DIR HYPER.json

Rows are rendered by the model's chat template with the assistant mask (loss on the
assistant's tokens, as TRL's ``assistant_only_loss`` does) and tokenized once, then trained
with the settings the trl trainer uses on a CPU: float32, no activation checkpointing,
non-padding tokens counted, one log line a step. Prints one JSON line: tokens, train
seconds (``trainer.train()`` alone), tokens/s and the process's peak RSS.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

for name, value in {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "WANDB_DISABLED": "true",
}.items():
    os.environ.setdefault(name, value)


def main(model_dir: str, rows_path: str, out_dir: str, hyper_path: str) -> None:
    import torch
    from datasets import Dataset
    from peft import LoraConfig
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTConfig, SFTTrainer

    hp = json.loads(Path(hyper_path).read_text())
    torch.manual_seed(hp["seed"])
    tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    model = AutoModelForCausalLM.from_pretrained(
        model_dir, dtype=torch.float32, local_files_only=True
    )
    examples = []
    for line in Path(rows_path).read_text().splitlines():
        row = json.loads(line)
        encoded = tokenizer.apply_chat_template(
            row["messages"],
            tools=row.get("tools") or None,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        ids = list(encoded["input_ids"])[: hp["max_seq_len"]]
        mask = list(encoded["assistant_masks"])[: hp["max_seq_len"]]
        examples.append(
            {"input_ids": ids, "labels": [t if m else -100 for t, m in zip(ids, mask, strict=True)]}
        )
    config = SFTConfig(
        output_dir=out_dir,
        per_device_train_batch_size=hp["batch_size"],
        gradient_accumulation_steps=hp["grad_accum"],
        learning_rate=hp["learning_rate"],
        max_steps=hp["max_steps"],
        logging_steps=1,
        save_strategy="no",
        seed=hp["seed"],
        data_seed=hp["seed"],
        report_to="none",
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
        use_cpu=True,
        max_length=hp["max_seq_len"],
        activation_checkpointing=False,
        packing=False,
    )
    trainer = SFTTrainer(
        model=model,
        args=config,
        train_dataset=Dataset.from_list(examples),
        processing_class=tokenizer,
        peft_config=LoraConfig(
            r=hp["lora_r"],
            lora_alpha=hp["lora_alpha"],
            lora_dropout=0.0,
            target_modules="all-linear",
            bias="none",
            task_type="CAUSAL_LM",
        ),
    )
    started = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - started
    trainer.save_model(out_dir)
    tokens = int(trainer.state.num_input_tokens_seen)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    print(
        json.dumps(
            {
                "tokens": tokens,
                "train_seconds": seconds,
                "tokens_per_s": tokens / seconds,
                "peak_rss_bytes": peak,
            }
        )
    )


if __name__ == "__main__":
    main(*sys.argv[1:5])
