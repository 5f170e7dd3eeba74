"""Solutions of the exercises of docs/results.md (checked by tests/docs/test_results_snippets.py)."""


# --8<-- [start:chance_exact_match]
def chance_exact_match(num_symbols, length):
    """Exact match of guessing every one of ``length`` tokens uniformly among ``num_symbols``."""
    return (1.0 / num_symbols) ** length
# --8<-- [end:chance_exact_match]


# --8<-- [start:span_f1]
def span_f1(pred, gold):
    """Positional token-overlap F1 of two inclusive spans (start, end), SQuAD-style."""
    overlap = max(0, min(pred[1], gold[1]) - max(pred[0], gold[0]) + 1)
    if overlap == 0:
        return 0.0
    precision = overlap / (pred[1] - pred[0] + 1)
    recall = overlap / (gold[1] - gold[0] + 1)
    return 2 * precision * recall / (precision + recall)
# --8<-- [end:span_f1]


# --8<-- [start:split_head_entropy]
def split_head_entropy(k, n):
    """Entropy (nats) and entropy / log n of a row that splits its mass evenly over k of its n keys."""
    import math

    entropy = math.log(k)  # k equal weights 1/k: -k (1/k) log(1/k)
    return entropy, entropy / math.log(n)
# --8<-- [end:split_head_entropy]
