"""Vaswani et al. (2017), Table 1, with the n and d of our own task configurations.

The paper's table gives, per layer type, the complexity per layer, the minimum number of
sequential operations and the maximum path length between any two positions, for sequence
length n, representation width d, convolution kernel width k and restriction neighbourhood r.
Here each formula is a Python function, evaluated at our n and d.
"""

def log_ceil(n, k):
    """The smallest p with k**p >= n: layers of (dilated) width-k convolutions that connect n positions."""
    p = 0
    while k**p < n:
        p += 1
    return p


# --8<-- [start:table1]
def table1(n, d, k=3, r=3):
    """Rows of Vaswani et al. (2017), Table 1, evaluated at length n and width d.

    Each row: layer type, operations per layer, sequential operations, maximum path length
    (the counts are the paper's big-O expressions with every constant set to 1).
    """
    return [
        ("self-attention", n * n * d, 1, 1),
        ("recurrent", n * d * d, n, n),
        ("convolutional", k * n * d * d, 1, log_ceil(n, k)),
        ("self-attention (restricted)", r * n * d, 1, -(-n // r)),  # ceil(n / r)
    ]
# --8<-- [end:table1]

FORMULAS = {  # the paper's expressions, as its Table 1 writes them
    "self-attention": ("O(n²·d)", "O(1)", "O(1)"),
    "recurrent": ("O(n·d²)", "O(n)", "O(n)"),
    "convolutional": ("O(k·n·d²)", "O(1)", "O(log_k n)"),
    "self-attention (restricted)": ("O(r·n·d)", "O(1)", "O(n/r)"),
}


def crossover_n(d):
    """The length at which n²·d overtakes n·d²: self-attention is cheaper per layer while n < d."""
    return d


def report_table1(shapes, k=3, r=3):
    """Markdown: the table at each task's (n, d); ``shapes`` maps a task to ``{"n_src", "n_tgt", "d_model"}``."""
    for task, s in shapes.items():
        n, d = s["n_src"], s["d_model"]
        rows = table1(n, d, k, r)
        print(f"**{task}**: n = {n} source positions, d = {d} (`d_model` of its config); k = {k}, r = {r}\n")
        print("| layer type | complexity per layer | at our n, d | sequential operations | at our n "
              "| maximum path length | at our n |")
        print("|---|---|---:|---|---:|---|---:|")
        for name, ops, seq, path in rows:
            f_ops, f_seq, f_path = FORMULAS[name]
            print(f"| {name} | {f_ops} | {ops:,} | {f_seq} | {seq} | {f_path} | {path} |")
        att, rec = rows[0][1], rows[1][1]
        cheaper = ("self-attention is the cheaper layer here, and stays so while n < d" if n < crossover_n(d)
                   else "the recurrent layer is the cheaper one here: n is not below d")
        print(f"\nSelf-attention / recurrent work per layer: n²d / nd² = n / d = {n}/{d} = {att / rec:.3f}: "
              f"{cheaper} = {crossover_n(d)}.\n")
