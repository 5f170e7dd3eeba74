"""Task data: vocabularies and deterministic generators for the tasks the site trains on.

Everything is generated in code from a seed (nothing is downloaded) with pure NumPy, and
every generator returns a :class:`TaskData` (train / valid / test arrays, already padded,
plus vocabularies, ``describe()`` and ``batches()``):

============================  ================  ============================================
generator                     kind              what it exercises
============================  ================  ============================================
``make_reversal_task``        seq2seq           encoder-decoder, teacher forcing, padding masks
``make_numbers_task``         seq2seq           translation: number words -> digits
``make_sentiment_task``       classification    mean pooling; order matters (bag of words fails)
``make_tagging_task``         tagging           per-token labels; ambiguous words need context
``make_qa_task``              qa                start/end logits over positions
============================  ================  ============================================

Page: ``docs/data-flow.md`` (data flow by task); ``docs/embeddings.md`` (vocab).
"""

from .baselines import majority_class_baseline, position_majority_baseline
from .headlines import HEADLINE_BASELINE, headline, task_baselines
from .language_model import (
    IGNORE_INDEX,
    LanguageModelData,
    NGramLM,
    load_topics,
    make_language_model_data,
    ngram_baselines,
    split_topics,
)
from .metrics import (
    accuracy,
    sequence_exact_match,
    span_exact_match,
    span_f1,
    tag_prf,
    token_accuracy,
)
from .numbers import make_numbers_task, number_to_digits, number_to_words, words_to_number
from .qa import first_candidate_baseline, make_qa_task, most_frequent_span_baseline
from .reversal import REVERSAL_PRESETS, copy_baseline, make_reversal_task
from .sentiment import (
    bow_baselines,
    bow_bayes_ceiling,
    grammar_bow_ceiling,
    make_sentiment_task,
    sentence_label,
)
from .tagging import lookup_baseline, make_tagging_task
from .task_data import FIELD_DOCS, KINDS, MAIN_METRIC, TaskData
from .vocab import EOS, EOS_ID, PAD, PAD_ID, SOS, SOS_ID, SPECIALS, UNK, UNK_ID, CharVocab, Vocab, pad_batch

# In the order of the site's pages and of ``scripts/reproduce.py``'s runs.
TASKS = {
    "reversal": make_reversal_task,
    "sentiment": make_sentiment_task,
    "tagging": make_tagging_task,
    "numbers": make_numbers_task,
    "qa": make_qa_task,
}


def make_task(name: str, **kwargs: object) -> TaskData:
    """Generate a task by name (a key of ``TASKS``), passing ``kwargs`` to its generator.

    Shape:
        that of the generator's :class:`TaskData`: per split, src: ``(N, S)``; tags:
        ``(N, S)`` (tagging); tgt: ``(N, T + 1)``, tgt_in, tgt_out: ``(N, T)`` (seq2seq,
        tagging); src_len, tgt_len, label, start, end, context_start: ``(N,)`` as the kind has them
    """
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {tuple(TASKS)}")
    return TASKS[name](**kwargs)  # type: ignore[operator]


__all__ = [
    "IGNORE_INDEX",
    "LanguageModelData",
    "NGramLM",
    "load_topics",
    "make_language_model_data",
    "ngram_baselines",
    "split_topics",
    "CharVocab", "EOS", "EOS_ID", "FIELD_DOCS", "HEADLINE_BASELINE", "KINDS", "MAIN_METRIC", "PAD", "PAD_ID",
    "REVERSAL_PRESETS", "SOS", "SOS_ID", "SPECIALS", "TASKS", "TaskData", "UNK", "UNK_ID", "Vocab", "accuracy",
    "bow_baselines", "bow_bayes_ceiling", "copy_baseline", "first_candidate_baseline", "grammar_bow_ceiling",
    "headline", "lookup_baseline", "majority_class_baseline", "make_numbers_task", "make_qa_task",
    "make_reversal_task", "make_sentiment_task", "make_tagging_task", "make_task",
    "most_frequent_span_baseline", "number_to_digits", "number_to_words", "pad_batch",
    "position_majority_baseline", "sentence_label", "sequence_exact_match", "span_exact_match",
    "span_f1", "tag_prf", "task_baselines", "token_accuracy", "words_to_number",
]
