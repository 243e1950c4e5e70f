"""Emails (60106, compared ignoring case) and telephones (40100) stay unique while people
hand them over. Pure.

A kept person gives one up only in their phase-5 update, so an update that takes a value
requires the update (or delete) of whoever gives it up; a new account that takes it is created
without it and gets it in a phase-5 update that requires the giver's; and a cycle of such
handoffs (a swap, a rotation) is broken by first releasing the value on one person of the
cycle (a "release" step, ``user.release:<userid>``), which the takers wait for instead.

A release sends ``""`` only where ``""`` is known to clear (``tenant.empty_string_clears``,
saved by `orgctl doctor`). DingTalk's update page documents no such thing and its SDKs drop
empty strings, so otherwise the release writes a temporary placeholder, unique per person (an
address under the reserved ``.invalid`` domain, an extension of digits); the person's own
update then writes their final value.
"""

from __future__ import annotations

import hashlib
import heapq
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from reconciler.model import UserId
from reconciler.plan.diff import UNIQUE_ERRCODES, FieldChange, unique_key
from reconciler.plan.state import HANDOFF_FIELDS, PlanState, holders
from reconciler.plan.steps import Phase, Step, UpdateUser


@dataclass(slots=True)
class Update:
    """A phase-5 user update being assembled (requires grow as handoffs are ordered)."""

    userid: UserId
    label: str
    changes: tuple[FieldChange, ...]
    payload: dict[str, Any]
    requires: list[str]
    notes: list[str]

    def body(self) -> UpdateUser:
        fields = dict(self.payload)
        if "extension" in fields:
            fields["extension"] = dict(fields["extension"])
        return UpdateUser(**fields)


PLACEHOLDER_DOMAIN = "release.example.invalid"
"""Reserved (RFC 2606): no mailbox can exist there, so a placeholder reaches nobody."""


def placeholder(name: str, userid: UserId, salt: int = 0) -> str:
    """A temporary value of `name` for `userid` that no real person holds: derived from a
    hash of the userid (userids differing only in case stay apart, as emails are compared
    ignoring case, 60106), at most 50 characters (60105), and for a telephone digits only."""
    digest = hashlib.sha256(f"{userid}\0{salt}".encode()).hexdigest()
    if name == "email":
        return f"orgctl-{digest[:12]}@{PLACEHOLDER_DOMAIN}"
    return f"99{int(digest[:15], 16) % 10**12:012d}"


class Placeholders:
    """Temporary values of one plan: none held by a live or desired person or given twice."""

    def __init__(self, s: PlanState) -> None:
        self.s = s
        self._used: set[tuple[str, str]] | None = None

    def take(self, name: str, userid: UserId) -> str:
        if self._used is None:
            self._used = {
                (field, unique_key(field, value))
                for org in (self.s.live, self.s.desired)
                for user in org.users.values()
                for field in HANDOFF_FIELDS
                if (value := getattr(user, field))
            }
        salt = 0
        while True:
            value = placeholder(name, userid, salt)
            key = (name, unique_key(name, value))
            if key not in self._used:
                self._used.add(key)
                return value
            salt += 1


def order_handoffs(s: PlanState, updates: list[Update]) -> list[Update]:
    """Order the user updates so that an email or telephone is given up before it is
    taken (60106, 40100), adding `requires` for each handoff; break every cycle of
    handoffs (a swap, a rotation) by first clearing the value on one of its people (a
    ``user.release`` step, added here, before the updates).

    Handoffs form a graph: X → H when X's update takes a value H's update gives up. A
    depth-first search in userid order finds cycles as back edges; the target of every
    back edge is released, which removes every edge into it (takers wait for the release
    instead), and a graph without back edges has no cycle. One release per simple cycle:
    for a swap or a rotation, the smallest userid in it."""
    # Only kept people give a value up (a new account's old self was deleted), and every
    # kept person with changes has an update here.
    holder_of = s.givers()
    edges: dict[UserId, list[tuple[UserId, str]]] = {}
    elsewhere: dict[UserId, list[tuple[str, str]]] = {}  # taken from someone not updated
    for update in updates:
        for name in HANDOFF_FIELDS:
            value = update.payload.get(name)
            if not value:
                continue
            key = (name, unique_key(name, value))
            holder = holder_of.get(key)
            if holder is not None and holder != update.userid:
                edges.setdefault(update.userid, []).append((holder, name))
            elif holder is None:
                elsewhere.setdefault(update.userid, []).append(key)
    if elsewhere:
        # Held by someone this plan deletes: the delete goes first (phase 3); require it,
        # so a failed delete skips the update.
        held_by = holders(s.live, {k for keys in elsewhere.values() for k in keys})
        for update in updates:
            for key in elsewhere.get(update.userid, ()):
                holder = held_by.get(key)
                if holder not in (None, update.userid) and holder in s.user_deleted:
                    update.requires.append(s.user_deleted[holder])
    temporary = Placeholders(s)
    if not s.empty_string_clears:
        _clears_without_empty_string(s, updates, edges, temporary)
    if not edges:
        return updates

    released = back_edge_targets({u: sorted({h for h, _ in out}) for u, out in edges.items()})
    by_id = {update.userid: update for update in updates}
    release_step: dict[UserId, str] = {}
    for holder in sorted(released):
        taken = sorted(
            (name, taker) for taker, out in edges.items() for h, name in out if h == holder
        )
        names = sorted({name for name, _ in taken})
        takers = sorted({taker for _, taker in taken})
        have = s.live.users[holder]
        codes = ", ".join(str(UNIQUE_ERRCODES[n]) for n in names)
        cleared: dict[str, Any] = {
            n: "" if s.empty_string_clears else temporary.take(n, holder) for n in names
        }
        how = (
            f"clears the {' and '.join(names)}"
            if s.empty_string_clears
            else f'sets a temporary {" and ".join(names)} ("" is not known to clear)'
        )
        release_step[holder] = s.add(
            Step(
                id=f"user.release:{holder}",
                phase=Phase.UPDATE_USERS,
                key=holder,
                body=UpdateUser(userid=holder, **cleared),
                label=by_id[holder].label,
                changes=tuple(FieldChange(n, getattr(have, n), cleared[n]) for n in names),
                note=(
                    f"temporary: {how} first, so "
                    f"{', '.join(takers)} can take {'it' if len(names) == 1 else 'them'}; "
                    f"set again below (a swap or rotation; DingTalk {codes}: unique)"
                ),
            )
        )
        by_id[holder].requires.append(release_step[holder])

    # Kahn's algorithm, smallest userid first: plan order stays sorted by userid when
    # nothing is handed over, so plans (and goldens) without handoffs do not change.
    waiting: dict[UserId, int] = {}
    unblocks: dict[UserId, list[UserId]] = {}
    for taker, out in edges.items():
        for holder, _ in out:
            if holder in release_step:
                by_id[taker].requires.append(release_step[holder])
            else:
                by_id[taker].requires.append(f"user.update:{holder}")
                waiting[taker] = waiting.get(taker, 0) + 1
                unblocks.setdefault(holder, []).append(taker)
    position = {update.userid: n for n, update in enumerate(updates)}
    ready = [position[u.userid] for u in updates if not waiting.get(u.userid)]
    heapq.heapify(ready)
    ordered: list[Update] = []
    while ready:
        update = updates[heapq.heappop(ready)]
        ordered.append(update)
        for taker in unblocks.get(update.userid, ()):
            waiting[taker] -= 1
            if waiting[taker] == 0:
                heapq.heappush(ready, position[taker])
    assert len(ordered) == len(updates), "handoff cycle left unbroken"
    return ordered


def _clears_without_empty_string(
    s: PlanState,
    updates: list[Update],
    edges: Mapping[UserId, list[tuple[UserId, str]]],
    temporary: Placeholders,
) -> None:
    """An email or telephone the YAML wants empty can only be cleared with ``""``, which a
    tenant may ignore (``tenant.empty_string_clears`` not true): say so rather than plan the
    same clear on every run. If someone else takes the value, the person gets a placeholder
    instead, so the taker's update is not refused (60106, 40100)."""
    taken = {(holder, name) for out in edges.values() for holder, name in out}
    for update in updates:
        for name in HANDOFF_FIELDS:
            if update.payload.get(name) != "":
                continue
            if (update.userid, name) in taken:
                value = temporary.take(name, update.userid)
                update.payload[name] = value
                update.notes.append(
                    f"{name} set to a placeholder, not cleared: another person takes it "
                    f'(DingTalk {UNIQUE_ERRCODES[name]}: unique) and "" is not known to clear'
                )
                kept = "keeps a placeholder"
            else:
                kept = "may keep it"
            s.warnings.append(
                f"{update.userid}: the YAML clears the {name}, but this tenant is not known to "
                f'clear a field with "" (tenant.empty_string_clears; `orgctl doctor --save` '
                f"checks), so {update.userid} {kept} and later plans show the change again"
            )


def back_edge_targets(graph: Mapping[UserId, list[UserId]]) -> set[UserId]:
    """Nodes a depth-first search (in sorted order) reaches by a back edge. Iterative: a
    rotation through thousands of people must not hit the recursion limit."""
    state: dict[UserId, bool] = {}  # True while on the stack, False when finished
    targets: set[UserId] = set()
    for root in sorted(graph):
        if root in state:
            continue
        state[root] = True
        stack = [(root, iter(graph[root]))]
        while stack:
            node, rest = stack[-1]
            nxt = next(rest, None)
            if nxt is None:
                state[node] = False
                stack.pop()
            elif nxt not in state:
                state[nxt] = True
                stack.append((nxt, iter(graph.get(nxt, ()))))
            elif state[nxt]:
                targets.add(nxt)
    return targets
