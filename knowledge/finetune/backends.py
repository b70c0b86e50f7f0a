"""Training backends behind one interface.

- `OpenAITrainer`: files + fine_tuning.jobs through the openai SDK; works with Azure OpenAI and other
  compatible APIs via `base_url`. OpenAI stops accepting new jobs on 2027-01-06: a refusal
  becomes `FineTuningUnavailable`, pointing to the other backends.
- `export_dataset`: the chat JSONL TRL / Axolotl / Unsloth accept, plus a LoRA recipe, for training
  an open model anywhere; serve it OpenAI-compatibly (vLLM, Ollama) and `register` it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from knowledge.errors import FineTuningUnavailable, ModelError, SupportBotError

SHUTDOWN_HINT = (
    "OpenAI no longer accepts new self-serve fine-tuning jobs (new jobs ended 2027-01-06). Train an open "
    "model instead: `supportbot finetune export` writes the dataset and a LoRA recipe, then serve the "
    "result with vLLM or Ollama and `supportbot finetune register` it."
)



@dataclass
class JobState:
    job_id: str
    status: str  # validating_files | queued | running | succeeded | failed | cancelled
    fine_tuned_model: str | None = None
    error: str | None = None
    events: list[str] = field(default_factory=list)

    @property
    def done(self) -> bool:
        return self.status in {"succeeded", "failed", "cancelled"}


class Trainer(Protocol):
    def start(self, train: Path, validation: Path | None, *, base_model: str, suffix: str, epochs: int | None) -> JobState: ...

    def status(self, job_id: str) -> JobState: ...

    def cancel(self, job_id: str) -> JobState: ...


class OpenAITrainer:
    def __init__(self, *, api_key: str, base_url: str | None = None, timeout: float = 60.0, max_retries: int = 2) -> None:
        import openai

        self._client = openai.OpenAI(api_key=api_key, base_url=base_url, timeout=timeout, max_retries=max_retries)

    def start(self, train: Path, validation: Path | None, *, base_model: str, suffix: str, epochs: int | None) -> JobState:
        import openai

        try:
            with train.open("rb") as fh:
                train_file = self._client.files.create(file=fh, purpose="fine-tune")
            val_file = None
            if validation is not None and validation.stat().st_size:
                with validation.open("rb") as fh:
                    val_file = self._client.files.create(file=fh, purpose="fine-tune")
            job = self._client.fine_tuning.jobs.create(
                model=base_model,
                training_file=train_file.id,
                validation_file=val_file.id if val_file else None,
                suffix=suffix[:18] or None,  # OpenAI allows up to 18 characters
                hyperparameters={"n_epochs": epochs} if epochs else None,
            )
        except (openai.BadRequestError, openai.PermissionDeniedError, openai.NotFoundError) as exc:
            message = str(exc).lower()
            if any(w in message for w in ("no longer", "shut", "wound down", "not available", "deprecated", "discontinued")):
                raise FineTuningUnavailable(SHUTDOWN_HINT) from exc
            raise ModelError(f"the fine-tuning job was refused: {exc}") from exc
        except openai.APIError as exc:
            raise ModelError(f"starting the fine-tuning job failed: {exc}") from exc
        return self._state(job)

    def status(self, job_id: str) -> JobState:
        import openai

        try:
            job = self._client.fine_tuning.jobs.retrieve(job_id)
            events = self._client.fine_tuning.jobs.list_events(fine_tuning_job_id=job_id, limit=10)
        except openai.APIError as exc:
            raise ModelError(f"could not read job {job_id}: {exc}") from exc
        state = self._state(job)
        state.events = [e.message for e in reversed(list(events.data))]
        return state

    def cancel(self, job_id: str) -> JobState:
        import openai

        try:
            return self._state(self._client.fine_tuning.jobs.cancel(job_id))
        except openai.APIError as exc:
            raise ModelError(f"could not cancel job {job_id}: {exc}") from exc

    @staticmethod
    def _state(job) -> JobState:  # noqa: ANN001 - openai FineTuningJob
        error = None
        if getattr(job, "error", None) and getattr(job.error, "message", None):
            error = job.error.message
        return JobState(job.id, job.status, job.fine_tuned_model, error)


RECIPE = """# Train the brand-voice model on an open model (LoRA)

`train.jsonl` / `validation.jsonl` are in the conversational "messages" format that TRL's
`SFTTrainer`, Axolotl (`type: chat_template`) and Unsloth read directly. Each example already is
the exact prompt the bot sends (grounding rules + brand guide + numbered sources + question)
followed by the ideal answer, so the model learns tone *and* the [n] citation habit.

## 1. Train (TRL, one GPU, ~30 min for a few hundred examples on an 8B model)

```bash
pip install "trl>=0.12" peft datasets accelerate
trl sft --model_name_or_path Qwen/Qwen2.5-7B-Instruct \\
  --dataset_name json --dataset_train_split train \\
  --data_files '{"train": "train.jsonl", "validation": "validation.jsonl"}' \\
  --use_peft --lora_r 16 --lora_alpha 32 --lora_target_modules all-linear \\
  --learning_rate 2e-4 --num_train_epochs 3 --per_device_train_batch_size 2 \\
  --gradient_accumulation_steps 8 --max_seq_length 8192 --assistant_only_loss \\
  --output_dir tandem-voice-lora
```

(Axolotl: `datasets: [{path: train.jsonl, type: chat_template}]`, `adapter: lora`. Unsloth:
`load_dataset("json", data_files="train.jsonl")` then its `SFTTrainer` recipe.)

## 2. Serve it with an OpenAI-compatible API

```bash
# vLLM serves the base model with the LoRA adapter under its own name
vllm serve Qwen/Qwen2.5-7B-Instruct --enable-lora --lora-modules tandem-voice=./tandem-voice-lora --port 8000
# or merge the adapter, convert to GGUF and `ollama create tandem-voice -f Modelfile`
```

## 3. Register, evaluate, promote

```bash
supportbot finetune register tandem-voice --base-url http://gpu-box:8000/v1 --api-key-ref vllm --base-model Qwen2.5-7B-Instruct
supportbot finetune eval <ID>      # candidate vs active vs base on the validation split
supportbot finetune promote <ID>   # refused if it regresses citation validity
```

`--api-key-ref vllm` names a key in `MODEL_API_KEYS` (`{"vllm": "…"}`); the key itself is never stored.
"""


def export_dataset(dataset_dir: Path, out_dir: Path) -> list[Path]:
    """Copy the rendered splits (already chat JSONL) and write the recipe next to them."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name in ("train.jsonl", "validation.jsonl", "manifest.json"):
        src = dataset_dir / name
        if src.is_file():
            if src.resolve() != (out_dir / name).resolve():
                shutil.copyfile(src, out_dir / name)
            written.append(out_dir / name)
    if not written or not (out_dir / "train.jsonl").is_file():
        raise SupportBotError(f"{dataset_dir} has no train.jsonl; run `supportbot finetune prepare` first.")
    (out_dir / "RECIPE.md").write_text(RECIPE, encoding="utf-8")
    return [*written, out_dir / "RECIPE.md"]
