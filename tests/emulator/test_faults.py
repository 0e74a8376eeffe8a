"""The emulator's fault grammar (`X-Emulator-Fault` specs) and which faults fire when: sans-IO."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiovertexchat.emulator import EmulatorConfig, Fault
from aiovertexchat.emulator.faults import FaultInjector, parse_fault_headers


class TestFaultGrammar:
    @pytest.mark.parametrize(
        ("spec", "expected"),
        [
            ("429", Fault("error", code=429)),
            ("429:retry-after=2", Fault("error", code=429, retry_after=2.0)),
            ("429:retry-after-ms=1500", Fault("error", code=429, retry_after_ms=1500)),
            ("500", Fault("error", code=500)),
            ("error", Fault("error", code=500)),
            ("reset-before-headers", Fault("reset-before-headers")),
            ("reset-mid-stream:after=3", Fault("reset-mid-stream", after=3)),
            ("reset-mid-stream", Fault("reset-mid-stream", after=1)),
            ("stall:seconds=5", Fault("stall", seconds=5.0)),
            ("stall:seconds=0.5:after=2", Fault("stall", seconds=0.5, after=2)),
            ("malformed-chunk:after=2", Fault("malformed-chunk", after=2)),
            ("error-in-stream:after=2:code=503", Fault("error-in-stream", after=2, code=503)),
            ("html-error:code=502", Fault("html-error", code=502)),
            ("list-error:code=429", Fault("list-error", code=429)),
            ("text-error:code=503", Fault("text-error", code=503)),
            ("empty-error:code=500", Fault("empty-error", code=500)),
            ("trickle:bytes=7", Fault("trickle", size=7)),
            ("truncate:after=3", Fault("truncate", after=3)),
            (" 503 : reason=BUSY ", Fault("error", code=503, reason="BUSY")),
        ],
    )
    def test_parse(self, spec: str, expected: Fault) -> None:
        assert Fault.parse(spec) == expected

    def test_canonical_string(self) -> None:
        assert str(Fault.parse("429:retry-after=2")) == "429:retry-after=2"
        assert str(Fault.parse("trickle:bytes=7")) == "trickle:bytes=7"
        assert str(Fault.parse("stall")) == "stall:seconds=3600"
        assert Fault.parse("error-in-stream").name == "error-in-stream"
        assert Fault.parse("504").name == "504"

    @pytest.mark.parametrize(
        ("spec", "complaint"),
        [
            ("teapot", "unknown fault kind"),
            ("429:after=2", "takes no 'after'"),
            ("truncate:code=500", "takes no 'code'"),
            ("stall:minutes=2", "unknown fault parameter"),
            ("truncate:after", "must be name=value"),
            ("truncate:after=x", "not an integer"),
            ("truncate:after=-1", "after must be >= 0"),
            ("trickle:bytes=0", "bytes must be >= 1"),
            ("302", "400..599"),
            ("truncate:after=1:after=2", "given twice"),
            ("429:reason=not a reason", "reason must be"),
        ],
    )
    def test_rejects(self, spec: str, complaint: str) -> None:
        with pytest.raises(ValueError, match=re.escape(complaint)):
            Fault.parse(spec)

    @given(
        st.one_of(
            st.builds(
                Fault,
                st.sampled_from(["error", "list-error"]),
                code=st.integers(400, 599),
                retry_after=st.none() | st.integers(0, 10**6).map(float),
                retry_after_ms=st.none() | st.integers(0, 10**9),
                reason=st.none() | st.from_regex(r"[A-Z_0-9]{1,20}", fullmatch=True),
            ),
            st.builds(
                Fault,
                st.sampled_from(["reset-mid-stream", "malformed-chunk", "truncate"]),
                after=st.none() | st.integers(0, 10**6),
            ),
            st.builds(
                Fault,
                st.just("stall"),
                seconds=st.none() | st.floats(0, 1e6, allow_nan=False),
                after=st.none() | st.integers(0, 10**6),
            ),
            st.builds(
                Fault,
                st.just("trickle"),
                size=st.integers(1, 10**6),
                seconds=st.none() | st.floats(0, 10, allow_nan=False),
            ),
        )
    )
    def test_string_round_trip(self, fault: Fault) -> None:
        assert Fault.parse(str(fault)) == fault

    def test_headers(self) -> None:
        requested = parse_fault_headers("503, trickle:bytes=3", "k1=429*2, k2=reset-before-headers")
        assert requested.faults == (Fault("error", code=503), Fault("trickle", size=3))
        assert requested.once == (
            ("k1", Fault("error", code=429), 2),
            ("k2", Fault("reset-before-headers"), 1),
        )
        with pytest.raises(ValueError, match="key=spec"):
            parse_fault_headers(None, "503")
        with pytest.raises(ValueError, match="repeat count"):
            parse_fault_headers(None, "k=503*x")


class TestFaultInjector:
    def test_once_keys_fire_the_given_number_of_times(self) -> None:
        injector = FaultInjector(0)
        config = EmulatorConfig()
        requested = parse_fault_headers(None, "a=503*2")
        fired = [injector.choose(requested, config) for _ in range(4)]
        assert fired == [[Fault("error", code=503)]] * 2 + [[]] * 2

    def test_random_faults_depend_only_on_seed_and_order(self) -> None:
        config = EmulatorConfig(
            faults=(Fault("error", code=500), Fault("truncate")), fault_rate=0.5
        )

        def run(seed: int, header_on: int | None = None) -> list[list[Fault]]:
            injector = FaultInjector(seed)
            out = []
            for i in range(40):
                header = "429" if i == header_on else None
                out.append(injector.choose(parse_fault_headers(header, None), config))
            return out

        first = run(7)
        assert first == run(7)
        assert first != run(8)
        assert 5 < sum(1 for f in first if f) < 35
        assert {f[0].kind for f in first if f} == {"error", "truncate"}
        # A header on request 3 replaces its fault without shifting the later ones.
        with_header = run(7, header_on=3)
        assert with_header[3] == [Fault("error", code=429)]
        assert with_header[4:] == first[4:]
