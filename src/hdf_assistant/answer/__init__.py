"""Ranked chunks -> a short, cited, extractive answer (or an abstention).

The parts, in the order a question meets them:

- ``question``: analysed once (expected kind of answer, names, years and
  numbers it gives, topic words); word lists live in ``lexicon``;
- ``candidates``: sentences, list items and table rows of the best passages;
- ``answerer``: scores them and picks the one to quote;
- ``abstention``: named rules, then a small learned model, decide whether
  the documents really answer (``abstain_reason`` says which rule fired);
- ``short_answer`` and ``compose``: "**1791**", then the cited quote.
"""

from hdf_assistant.answer.abstention import AbstentionModel, default_model
from hdf_assistant.answer.answerer import AnswerParams, ExtractiveAnswerer, SentenceEmbedder
from hdf_assistant.answer.candidates import Candidate, candidate_sentences
from hdf_assistant.answer.compose import LEAD, NO_ANSWER, abstain, quote_best_passage
from hdf_assistant.answer.evidence import IndexView
from hdf_assistant.answer.question import Question, analyse_question, answer_type, question_entities

__all__ = [
    "AbstentionModel", "AnswerParams", "Candidate", "ExtractiveAnswerer", "IndexView", "LEAD", "NO_ANSWER",
    "Question", "SentenceEmbedder", "abstain", "analyse_question", "answer_type",
    "candidate_sentences", "default_model", "question_entities", "quote_best_passage",
]
