"""`auto`'s first run: the engines take turns on the job's own batches.

Timing every engine on extra batches before a job starts cost a 1,050
image retrain more than the faster engine won back (its first run was
0.88 to 0.96x TensorFlow's, bench/results/engines.md). A `Race` times
the work the job does anyway: the candidates (each checked against
TensorFlow before it races, so the batch outputs differ by no more than
`PARITY_TOLERANCE` whichever ran them) take turns on the job's batches,
each one's first batch a warm-up, until each has run `rounds` timed
batches. The fastest (median seconds per image) then runs the rest of
the job, and `settled` is told (`choose_engine` remembers the choice).

Engines compile in the background (`entries`: futures of compiled
models) while the engines already there run the job's batches, so the
job does not wait for a conversion. A batch that ran while a compilation
was going on is not timed: the two shared the cores. An engine slow to
convert may join late: when the rest of the job at the best measured
speed would still take long enough, `late_entry` starts its compilation
and it races the leader once it is there.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import logging
import statistics
import threading
import time
from collections.abc import Callable
from collections.abc import Mapping
from typing import Any

import numpy as np

from imagehub.engines._base import CompiledInfo
from imagehub.engines._base import CompiledModel
from imagehub.engines._errors import EngineError

logger = logging.getLogger(__name__)

# Batches smaller than this share of the job's batch size (the last one)
# run but are not timed: fixed per-call costs would bias them.
TIMED_SHARE = 0.5
# `Race.ready` and `Race.settle` wait at most this long for a compilation.
COMPILE_TIMEOUT_S = 600.0

# A compiled model on its way (compiling in the background).
Entry = concurrent.futures.Future[CompiledModel]


@dataclasses.dataclass(frozen=True)
class Standings:
    """Where a race stands.

    Attributes:
        images_per_second: Engine -> the median speed of its timed
            batches (engines without one are left out).
        winner: The engine running the rest of the job, once settled.
        images: Images run so far, by any engine.
        compiling: Engines still compiling.
    """

    images_per_second: Mapping[str, float]
    winner: str | None
    images: int
    compiling: tuple[str, ...] = ()


class Race(CompiledModel):
    """Candidates that take turns on a job's batches, then the fastest.

    Args:
        candidates: Engine -> compiled model ready now (TensorFlow), the
            first also the fallback when nothing was timed.
        entries: Engine -> future of its compiled model (already verified
            against TensorFlow when it resolves); one that raises is
            refused with its message.
        info: What `Race.info` says (engine "auto").
        batch_size: The job's batch size.
        rounds: Timed batches per candidate before the race settles.
        settled: Called once, with the standings, when the race settles.
        late_entry: Called once when the leader is known, with the
            leader's images/s and the images run so far; returns more
            entries to race, or none.
        refused: Engine -> why it is not racing; kept (not copied), so
            what `late_entry` adds to it shows.
        num_batches: The job's batches, if known. At half of them the
            race waits (at most `COMPILE_TIMEOUT_S`) for the engines still
            compiling from the start, so that it can settle before the job
            ends: a job that runs fast on TensorFlow could otherwise end
            before they join, and nothing would be remembered.
    """

    engine = "auto"

    def __init__(
        self,
        candidates: Mapping[str, CompiledModel],
        *,
        entries: Mapping[str, Entry] | None = None,
        info: CompiledInfo,
        batch_size: int,
        rounds: int,
        settled: Callable[[Standings], None],
        late_entry: Callable[[float, int], Mapping[str, Entry]] | None = None,
        refused: dict[str, str] | None = None,
        num_batches: int | None = None,
    ) -> None:
        super().__init__(info, None, False)
        self._models = dict(candidates)
        self._pending = dict(entries or {})
        self._timed: dict[str, list[float]] = {
            e: [] for e in [*self._models, *self._pending]
        }
        self._warm: set[str] = set()
        self._min_timed = max(1, int(batch_size * TIMED_SHARE))
        self._rounds = max(1, rounds)
        self._settled = settled
        self._late_entry = late_entry
        self._winner: str | None = None
        self._images = 0
        self._batches = 0
        self._wait_at = None if num_batches is None else num_batches // 2
        self._lock = threading.Lock()
        self.refused = refused if refused is not None else {}

    @property
    def racers(self) -> tuple[str, ...]:
        """Every engine that raced, is racing or is compiling to race, in
        the order they entered."""
        return tuple(e for e in self._timed if e not in self.refused)

    @property
    def standings(self) -> Standings:
        return Standings(
            images_per_second={
                engine: round(1.0 / statistics.median(times), 2)
                for engine, times in self._timed.items()
                if times
            },
            winner=self._winner,
            images=self._images,
            compiling=tuple(self._pending),
        )

    def __call__(self, images: Any) -> np.ndarray:
        winner = self._winner
        if winner is not None:
            return self._models[winner](images)
        with self._lock:
            if self._winner is not None:
                return self._models[self._winner](images)
            return self._turn(np.asarray(images, np.float32))

    def _run(self, batch: np.ndarray) -> np.ndarray:
        return self(batch)

    def ready(self, timeout: float = COMPILE_TIMEOUT_S) -> None:
        """Waits (at most `timeout` seconds) for the engines compiling."""
        concurrent.futures.wait(list(self._pending.values()), timeout)
        with self._lock:
            self._collect()

    def settle(self, images: Any) -> Standings:
        """Races on `images` (repeated to whole batches) until settled: for
        a caller with no job to race on (`imagehub compare`)."""
        batch = np.asarray(images, np.float32)
        reps = -(-self._min_timed // max(1, len(batch)))
        batch = np.concatenate([batch] * reps)
        deadline = time.monotonic() + COMPILE_TIMEOUT_S
        while self._winner is None:
            if self._pending:
                self.ready(max(0.0, deadline - time.monotonic()))
            self(batch)
        return self.standings

    def _collect(self) -> None:
        """Moves the compilations that finished into the race (lock
        held)."""
        for engine, entry in list(self._pending.items()):
            if not entry.done():
                continue
            del self._pending[engine]
            try:
                self._models[engine] = entry.result()
            except (EngineError, ValueError) as e:
                logger.debug("engine %s refused: %s", engine, e)
                self.refused[engine] = str(e)
                self._timed.pop(engine, None)
            except Exception as e:  # noqa: BLE001  the job goes on
                logger.warning(
                    "engine %s failed to compile, left out: %s: %s",
                    engine,
                    type(e).__name__,
                    e,
                )
                self.refused[engine] = f"{type(e).__name__}: {e}"
                self._timed.pop(engine, None)

    def _turn(self, batch: np.ndarray) -> np.ndarray:
        """Runs `batch` on the candidate whose turn it is (lock held)."""
        if (
            self._pending
            and self._wait_at is not None
            and self._batches >= self._wait_at
        ):
            self._wait_at = None  # once
            concurrent.futures.wait(
                list(self._pending.values()), COMPILE_TIMEOUT_S
            )
        self._collect()
        engine = self._next()
        contended = bool(self._pending)
        start = time.perf_counter()
        out = self._models[engine](batch)
        elapsed = time.perf_counter() - start
        self._images += len(batch)
        self._batches += 1
        if engine not in self._warm:
            self._warm.add(engine)
        elif len(batch) >= self._min_timed and not (contended or self._pending):
            # Not while an engine compiled beside it: they shared cores.
            self._timed[engine].append(elapsed / len(batch))
        if not self._pending and all(
            len(self._timed[e]) >= self._rounds for e in self._models
        ):
            self._decide()
        return out

    def _next(self) -> str:
        cold = [e for e in self._models if e not in self._warm]
        if cold:
            return cold[0]
        return min(self._models, key=lambda e: len(self._timed[e]))

    def _decide(self) -> None:
        speeds = self.standings.images_per_second
        leader = max(speeds, key=lambda engine: speeds[engine])
        late_entry, self._late_entry = self._late_entry, None
        self._wait_at = None  # late entries are not waited for
        if late_entry is not None:
            more = late_entry(speeds[leader], self._images)
            if more:
                self._pending.update(more)
                self._timed.update({e: [] for e in more})
                return  # they race the leader once compiled
        self._winner = leader
        # The others are no longer needed; the winner runs the rest.
        self._models = {leader: self._models[leader]}
        self._settled(self.standings)
