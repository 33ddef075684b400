"""Evaluation: question files (the project's JSONL and SQuAD), the metrics
(hit@k, MRR, exact and gold-span answers, abstention), and the eval run that
asks every question through the assistant and writes the report."""
