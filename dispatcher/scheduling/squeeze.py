"""The squeeze step of route elimination: insert a visit anyway, then repair the time warp and overload."""

from __future__ import annotations

import time

from dispatcher.scheduling.vrptw import Vrptw

# duration, time warp, earliest start, latest start, first node, last node, load (Vidal et al. 2013)
Seg = tuple[int, int, int, int, int, int, int]
NEAR = 15  # neighbours considered per visit of an infeasible route
MAX_STEPS = 60  # local-search moves per squeeze at most


def cat(t: list[list[int]], a: Seg, b: Seg) -> Seg:
    """Concatenate two route segments (travel from ``a``'s last node to ``b``'s first)."""
    d_a, tw_a, e_a, l_a, f_a, z_a, q_a = a
    d_b, tw_b, e_b, l_b, f_b, z_b, q_b = b
    hop = t[z_a][f_b]
    delta = d_a - tw_a + hop
    wait = e_b - delta - l_a  # conditionals instead of max/min: this is the hot path
    if wait < 0:
        wait = 0
    warp = e_a + delta - l_b
    if warp < 0:
        warp = 0
    early = e_b - delta
    if e_a > early:
        early = e_a
    late = l_b - delta
    if l_a < late:
        late = l_a
    return (d_a + d_b + hop + wait, tw_a + tw_b + warp, early - wait, late + warp, f_a, z_b, q_a + q_b)


class Squeezer:
    """Penalised routes (time warp + weighted overload) with prefix and suffix segments for O(1) moves."""

    def __init__(self, p: Vrptw, routes: list[list[int]], near: list[list[int]]) -> None:
        self.p, self.near = p, near
        self.unit: list[Seg] = [
            (p.service[n], 0, p.ready[n], p.due[n], n, n, p.demand[n]) for n in range(len(p.ready))
        ]
        self.unit[p.depot] = (0, 0, p.start, p.end, p.depot, p.depot, 0)
        self.weight = max(1, p.end // max(1, p.capacity)) if p.capacity else 0
        self.routes = [list(r) for r in routes]
        self.fwd: list[list[Seg]] = [[] for _ in routes]
        self.bwd: list[list[Seg]] = [[] for _ in routes]
        self.pen = [0] * len(routes)
        self.where: dict[int, tuple[int, int]] = {}
        for ri in range(len(routes)):
            self._refresh(ri)

    def penalty(self, s: Seg) -> int:
        """Time warp plus weighted load above capacity of a whole route."""
        over = s[6] - self.p.capacity if self.p.capacity else 0
        return s[1] + self.weight * over if over > 0 else s[1]

    def _refresh(self, ri: int) -> None:
        t, u = self.p.travel, self.unit
        seq = [self.p.depot, *self.routes[ri], self.p.depot]
        fwd = [u[seq[0]]]
        for n in seq[1:]:
            fwd.append(cat(t, fwd[-1], u[n]))
        bwd = [u[seq[-1]]]
        for n in reversed(seq[:-1]):
            bwd.append(cat(t, u[n], bwd[-1]))
        self.fwd[ri], self.bwd[ri] = fwd, bwd[::-1]
        self.pen[ri] = self.penalty(fwd[-1])
        for k, n in enumerate(self.routes[ri]):
            self.where[n] = (ri, k + 1)

    def insert_least_penalty(self, v: int) -> None:
        """Insert ``v`` where it adds the least penalty (every position of every route)."""
        t, uv = self.p.travel, self.unit[v]
        best: tuple[int, int, int] | None = None
        for ri, (fwd, bwd) in enumerate(zip(self.fwd, self.bwd, strict=True)):
            for k in range(len(fwd) - 1):
                added = self.penalty(cat(t, cat(t, fwd[k], uv), bwd[k + 1])) - self.pen[ri]
                if best is None or added < best[0]:
                    best = (added, ri, k)
        assert best is not None
        self.routes[best[1]].insert(best[2], v)
        self._refresh(best[1])

    def _moves(self, ri: int) -> tuple[int, int, int, int, int] | None:
        """Best inter-route move touching route ``ri``: (gain, kind, other route, i, j).

        Kinds: 0 and 1 are 2-opt* (``u`` then ``w``'s tail, ``w`` then ``u``'s tail), 2 and 3 relocate
        ``u`` before or after ``w``, 4 swaps them. ``r``'s new part is priced first: a move whose gain
        cannot beat the best so far even if ``w``'s route ends without penalty is not finished.
        """
        t, unit, fr, br, pen = self.p.travel, self.unit, self.fwd[ri], self.bwd[ri], self.penalty
        best: tuple[int, int, int, int, int] | None = None
        floor = 0  # gain to beat
        for i, u in enumerate(self.routes[ri], start=1):
            su = unit[u]
            without = cat(t, fr[i - 1], br[i + 1])
            p_without = pen(without)
            for w in self.near[u]:
                at = self.where.get(w)  # None: ``w`` waits in the ejection pool
                if at is None or at[0] == ri:
                    continue
                si, j = at
                fs, bs = self.fwd[si], self.bwd[si]
                base = self.pen[ri] + self.pen[si]
                for kind in range(5):
                    p_a = p_without if kind in (2, 3) else pen(_head(t, kind, fr, br, bs, i, j, unit[w]))
                    if base - p_a <= floor:
                        continue
                    gain = base - p_a - pen(_tail(t, kind, br, fs, bs, i, j, su))
                    if gain > floor:
                        floor, best = gain, (gain, kind, si, i, j)
        return best

    def _apply(self, ri: int, kind: int, si: int, i: int, j: int) -> None:
        """Apply move ``kind`` at sequence positions ``i`` (route ``ri``) and ``j`` (route ``si``)."""
        r, s = self.routes[ri], self.routes[si]
        i, j = i - 1, j - 1  # list indices of u and w
        if kind == 0:
            new_r, new_s = [*r[: i + 1], *s[j:]], [*s[:j], *r[i + 1 :]]
        elif kind == 1:
            new_r, new_s = [*r[:i], *s[j + 1 :]], [*s[: j + 1], *r[i:]]
        elif kind == 4:
            new_r, new_s = [*r[:i], s[j], *r[i + 1 :]], [*s[:j], r[i], *s[j + 1 :]]
        else:
            at = j if kind == 2 else j + 1
            new_r, new_s = [*r[:i], *r[i + 1 :]], [*s[:at], r[i], *s[at:]]
        self.routes[ri], self.routes[si] = new_r, new_s
        self._refresh(ri)
        self._refresh(si)

    def repair(self, *, deadline: float, pick: int) -> bool:
        """Best-improvement moves on penalised routes until none is left; True when all are feasible."""
        for step in range(MAX_STEPS):
            bad = [ri for ri, pen in enumerate(self.pen) if pen]
            if not bad:
                return True
            if time.perf_counter() > deadline:
                return False
            ri = bad[(pick + step) % len(bad)]
            move = self._moves(ri)
            if move is None:
                return False
            self._apply(ri, *move[1:])
        return not any(self.pen)


def _head(
    t: list[list[int]], kind: int, fr: list[Seg], br: list[Seg], bs: list[Seg], i: int, j: int, sw: Seg
) -> Seg:
    """Route ``r`` after move ``kind`` (not called for the relocations, which only remove ``u``)."""
    if kind == 0:
        return cat(t, fr[i], bs[j])
    if kind == 1:
        return cat(t, fr[i - 1], bs[j + 1])
    return cat(t, cat(t, fr[i - 1], sw), br[i + 1])


def _tail(
    t: list[list[int]], kind: int, br: list[Seg], fs: list[Seg], bs: list[Seg], i: int, j: int, su: Seg
) -> Seg:
    """Route ``s`` after move ``kind``."""
    if kind == 0:
        return cat(t, fs[j - 1], br[i + 1])
    if kind == 1:
        return cat(t, fs[j], br[i])
    if kind == 2:
        return cat(t, cat(t, fs[j - 1], su), bs[j])
    if kind == 3:
        return cat(t, cat(t, fs[j], su), bs[j + 1])
    return cat(t, cat(t, fs[j - 1], su), bs[j + 1])


def nearest(p: Vrptw, visits: list[int], k: int = NEAR) -> list[list[int]]:
    """For each node, its ``k`` nearest visits (by cost both ways); empty rows for other nodes."""
    near: list[list[int]] = [[] for _ in p.ready]
    for v in visits:
        near[v] = sorted((w for w in visits if w != v), key=lambda w: p.cost[v][w] + p.cost[w][v])[:k]
    return near


def squeeze(
    p: Vrptw, routes: list[list[int]], v: int, near: list[list[int]], *, deadline: float, pick: int = 0
) -> list[list[int]] | None:
    """Insert ``v`` at its least-penalty place, then repair by local search; None when it stays infeasible.

    Args:
        p: Plain VRPTW data.
        routes: Feasible routes without ``v`` (not modified).
        v: The visit to insert.
        near: Nearest visits per node (see ``nearest``).
        deadline: ``time.perf_counter()`` value at which to give up.
        pick: Rotates which infeasible route is repaired first.

    Returns:
        Feasible routes serving ``v`` as well, or None.
    """
    sq = Squeezer(p, routes, near)
    sq.insert_least_penalty(v)
    if sq.repair(deadline=deadline, pick=pick):
        return sq.routes
    return None
