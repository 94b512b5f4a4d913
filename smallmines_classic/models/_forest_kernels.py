"""The numba kernels of the forest engine (imported only when a numba engine is built).

A packed tree is a flat uint32 array of two words per node: the node's
threshold (float32 bits) and its code. Positions are word offsets from the
tree's start, so a node at offset ``a`` has its threshold at ``a`` and its
code at ``a + 1``::

    code = child << shift | leaf << (shift - 1) | nan_left << (shift - 2) | feature

An internal node's ``child`` is the offset of its left child; the right
child follows it (siblings are adjacent). A leaf points to itself, with the
threshold NaN, so that a step from it goes nowhere (``x > NaN`` is false) and
pixels that reached their leaf can keep stepping with the others. Each
node's offset / 2 indexes the tree's values.

A pixel goes right when ``x > threshold``, or when x is NaN and the node
sends missing values right: scikit-learn's ``x <= threshold`` to the left,
for float32 ``x`` against the float32 ``threshold`` that
``_forest_engines.float32_at_most`` derived from scikit-learn's float64 one.
"""

import numba
import numpy as np

__all__ = ["pack_tree", "predict_chunk", "unpack_checked"]

_NAN = np.uint32(0x7FC00000)


def _jit(**options):
    """``numba.njit(nogil=True, **options)``, cached on disk where numba finds a writable folder, else in memory."""
    def decorate(function):
        try:
            return numba.njit(nogil=True, cache=True, **options)(function)
        except RuntimeError:  # "cannot cache function ...: no locator available": nowhere writable
            return numba.njit(nogil=True, **options)(function)
    return decorate


@_jit()
def pack_tree(left, right, feature, threshold_bits, nan_left, value, weight, shift, words, values):
    """Lay one scikit-learn tree out in ``words`` and ``values`` (see the module docstring).

    Siblings are adjacent, and the subtree of the child that saw more
    training samples comes first, depth first, so the likelier paths run
    through neighbouring memory.
    """
    slot_of = np.empty(len(left), np.int64)
    slot_of[0] = 0
    stack = np.empty(len(left), np.int64)
    stack[0] = 0
    depth, free = 1, 1
    while depth:
        depth -= 1
        node = stack[depth]
        slot = slot_of[node]
        values[slot] = value[node]
        if left[node] == -1:
            words[2 * slot] = _NAN
            words[2 * slot + 1] = (2 * slot) << shift | 1 << (shift - 1) | 1 << (shift - 2)
            continue
        slot_of[left[node]], slot_of[right[node]] = free, free + 1
        words[2 * slot] = threshold_bits[node]
        words[2 * slot + 1] = (2 * free) << shift | nan_left[node] << (shift - 2) | feature[node]
        free += 2
        heavier_left = weight[left[node]] >= weight[right[node]]
        stack[depth] = right[node] if heavier_left else left[node]  # popped after the other child's whole subtree
        stack[depth + 1] = left[node] if heavier_left else right[node]
        depth += 2


@_jit(inline="always")
def _step(thresholds, codes, features, at, row, shift, nan_aware):
    """The word offset one step below ``at`` for the pixel whose features start at ``row``."""
    code = codes[at + 1]
    x = features[row + (code & ((1 << (shift - 2)) - 1))]
    right = np.uint32(x > thresholds[at])
    if nan_aware:  # a constant in each caller: the NaN test costs nothing where there is no NaN
        right |= np.uint32(np.isnan(x)) & (1 ^ ((code >> (shift - 2)) & 1))
    return (code >> shift) + 2 * right


@_jit(inline="always")
def _walk(features, n_features, thresholds, codes, tree_start, values, shift, nan_aware, start, stop, total):
    """Add every tree's value, in tree order, to ``total`` for pixels ``start:stop``.

    Eight pixels walk each tree at once, in registers, so eight independent
    memory reads are in flight; they stop when all eight are at leaves.
    """
    leaf = np.uint32(1 << (shift - 1))
    sh = np.uint32(shift)
    for tree in range(len(tree_start)):
        th = thresholds[2 * tree_start[tree]:]
        co = codes[2 * tree_start[tree]:]
        va = values[tree_start[tree]:]
        pixel = start
        while pixel + 8 <= stop:
            r = pixel * n_features
            a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = np.uint32(0)
            while True:
                a0 = _step(th, co, features, a0, r, sh, nan_aware)
                a1 = _step(th, co, features, a1, r + n_features, sh, nan_aware)
                a2 = _step(th, co, features, a2, r + 2 * n_features, sh, nan_aware)
                a3 = _step(th, co, features, a3, r + 3 * n_features, sh, nan_aware)
                a4 = _step(th, co, features, a4, r + 4 * n_features, sh, nan_aware)
                a5 = _step(th, co, features, a5, r + 5 * n_features, sh, nan_aware)
                a6 = _step(th, co, features, a6, r + 6 * n_features, sh, nan_aware)
                a7 = _step(th, co, features, a7, r + 7 * n_features, sh, nan_aware)
                if (co[a0 + 1] & co[a1 + 1] & co[a2 + 1] & co[a3 + 1]
                        & co[a4 + 1] & co[a5 + 1] & co[a6 + 1] & co[a7 + 1] & leaf):
                    break
            i = pixel - start
            total[i] += va[a0 >> 1]
            total[i + 1] += va[a1 >> 1]
            total[i + 2] += va[a2 >> 1]
            total[i + 3] += va[a3 >> 1]
            total[i + 4] += va[a4 >> 1]
            total[i + 5] += va[a5 >> 1]
            total[i + 6] += va[a6 >> 1]
            total[i + 7] += va[a7 >> 1]
            pixel += 8
        while pixel < stop:  # the last few, one at a time
            a = np.uint32(0)
            while not co[a + 1] & leaf:
                a = _step(th, co, features, a, pixel * n_features, sh, nan_aware)
            total[pixel - start] += va[a >> 1]
            pixel += 1


@_jit()
def predict_chunk(features, n_features, thresholds, codes, tree_start, values, shift, out, start, stop):
    """``out[start:stop]``: the forest's mean value for those pixels (``features`` flat, C order).

    Each pixel's sum starts at 0.0 and adds the trees in their order, then
    is divided by the number of trees: scikit-learn's arithmetic at n_jobs=1.
    """
    total = np.zeros(stop - start, np.float64)
    has_nan = False
    for value in features[start * n_features:stop * n_features]:
        if np.isnan(value):
            has_nan = True
            break
    if has_nan:
        _walk(features, n_features, thresholds, codes, tree_start, values, shift, True, start, stop, total)
    else:
        _walk(features, n_features, thresholds, codes, tree_start, values, shift, False, start, stop, total)
    for i in range(stop - start):
        out[start + i] = total[i] / len(tree_start)


@_jit()
def unpack_checked(words, tree_start, leaf_values, shift, n_features, values):
    """Check every node of packed trees read from a file, and put the leaf values in ``values``, one pass.

    Returns -1, or the index of the first node the kernels could not walk safely: an inner node's child must lie
    after it with its sibling inside the tree, and its feature exist; a leaf must point to itself with a NaN
    threshold (then a step from it stays there). ``tree_start`` must already tile the nodes; ``leaf_values`` holds
    one value in [0, 1] a leaf, in node order (``len(words) // 2`` when there are too many or too few).
    """
    n_nodes = len(words) // 2
    leaf_low, low_mask = np.int64(3 << (shift - 2)), np.int64((1 << (shift + 1)) - 1)
    nan_bit, leaf_bit = np.int64(1 << (shift - 2)), np.int64(1 << (shift - 1))
    taken = 0
    for tree in range(len(tree_start)):
        root = tree_start[tree]
        end = tree_start[tree + 1] if tree + 1 < len(tree_start) else n_nodes
        for node in range(root, end):
            code = np.int64(words[2 * node + 1])
            child, low = root + (code >> (shift + 1)), code & low_mask
            if low < leaf_bit:
                if child <= node or child + 1 >= end or (low & ~nan_bit) >= n_features:
                    return node
                continue
            if child != node or low != leaf_low or words[2 * node] != _NAN or taken >= len(leaf_values):
                return node
            value = leaf_values[taken]
            if not (value >= 0.0 and value <= 1.0):
                return node
            values[node] = value
            taken += 1
    return -1 if taken == len(leaf_values) else n_nodes
