"""Answer-level evaluation on a golden set: which layer failed?

- knowledge failure: a gold document did not reach the model's context → fix docs or retrieval;
- behaviour failure: a gold document was in the context, but the answer refused, cited another
  source or broke the citation format → fix the prompt or the fine-tune;
- over-answer: a question the docs cannot answer got an answer (threshold or grounding too lax).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field

from knowledge.answering import Answerer
from knowledge.evaluation import GoldenSet, Question
from knowledge.retrieval import Filters


@dataclass
class Diagnosis:
    id: str
    answerable: bool
    status: str
    verdict: str  # ok | knowledge | behaviour | over-answer
    detail: str
    gold_in_context: bool
    cited: list[str]
    gold: list[str]


@dataclass
class AnswerEvalReport:
    questions: int
    answerable: int
    unanswerable: int
    answered_rate: float  # on answerable questions
    refusal_rate: float  # on unanswerable questions
    citation_validity: float  # valid [n] markers / all markers in generated answers
    gold_cited_rate: float  # answered answerable questions that cite a gold document
    failures: dict[str, int]
    diagnoses: list[Diagnosis] = field(repr=False, default_factory=list)

    def headline(self) -> str:
        f = self.failures
        return (
            f"knowledge failures: {f.get('knowledge', 0)} · behaviour failures: {f.get('behaviour', 0)} · "
            f"over-answers: {f.get('over-answer', 0)} · ok: {f.get('ok', 0)} of {self.questions}"
        )

    def as_dict(self, *, per_question: bool = True) -> dict:
        data = {k: v for k, v in asdict(self).items() if k != "diagnoses"}
        data = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in data.items()}
        if per_question:
            data["per_question"] = [asdict(d) for d in self.diagnoses]
        return data


def diagnose(q: Question, status: str, context_ids: list[str], cited: list[str], invalid: int) -> tuple[str, str]:
    gold = set(q.gold_doc_ids)
    if not q.answerable:
        return ("ok", "correctly refused") if status == "refused" else ("over-answer", "answered an unanswerable question")
    if not gold & set(context_ids):
        return "knowledge", "no gold document in the context"
    if status == "refused":
        return "behaviour", "refused although a gold document was in the context"
    if invalid:
        return "behaviour", f"{invalid} citation(s) to missing sources"
    if not gold & set(cited):
        return "behaviour", "cited a non-gold source"
    return "ok", "answered citing a gold document"


def evaluate_answers(answerer: Answerer, golden: GoldenSet, *, source: str) -> AnswerEvalReport:
    diagnoses: list[Diagnosis] = []
    markers = invalid_markers = 0
    for q in golden.questions:
        result = answerer.answer(q.question, history=q.history, filters=Filters(sources=[source]), record=False)
        context_ids = [s.external_id for s in result.sources]
        cited = [c.document_id for c in result.citations]
        markers += result.citation_markers
        invalid_markers += len(result.invalid_citations)
        verdict, detail = diagnose(q, result.status, context_ids, cited, len(result.invalid_citations))
        diagnoses.append(Diagnosis(q.id, q.answerable, result.status, verdict, detail,
                                   bool(set(q.gold_doc_ids) & set(context_ids)), cited, list(q.gold_doc_ids)))
    answerable = [d for d in diagnoses if d.answerable]
    unanswerable = [d for d in diagnoses if not d.answerable]
    answered = [d for d in answerable if d.status != "refused"]
    return AnswerEvalReport(
        questions=len(diagnoses),
        answerable=len(answerable),
        unanswerable=len(unanswerable),
        answered_rate=len(answered) / len(answerable) if answerable else 0.0,
        refusal_rate=sum(d.status == "refused" for d in unanswerable) / len(unanswerable) if unanswerable else 0.0,
        citation_validity=1.0 if markers == 0 else (markers - invalid_markers) / markers,
        gold_cited_rate=sum(bool(set(d.cited) & set(d.gold)) for d in answered) / len(answered) if answered else 0.0,
        failures=dict(Counter(d.verdict for d in diagnoses)),
        diagnoses=diagnoses,
    )
