import asyncio

from llm_magics.core.cost import cost_usd, price_of
from llm_magics.core.endpoint import Endpoint
from llm_magics.core.engine import Engine
from llm_magics.core.estimate import estimate_requests
from llm_magics.core.policy.limiter import Permit, RateLimiter
from llm_magics.core.settings import resolve
from llm_magics.core.tokens import estimate_prompt_tokens
from llm_magics.core.types import Request, Usage
from llm_magics.core.wire import close_connections
from tests.support.sim import Simulator


def test_snapshot_names_find_their_base_price():
    assert price_of("gpt-4o-mini-2024-07-18") == price_of("gpt-4o-mini")
    assert price_of("gpt-4o-2024-08-06") == price_of("gpt-4o")


def test_unknown_model_has_no_price_not_zero():
    assert cost_usd("sim-small", Usage(10, 10)) is None


def test_batch_costs_half():
    u = Usage(1_000_000, 0)
    assert cost_usd("gpt-4o-mini", u, batch=True) == cost_usd("gpt-4o-mini", u) / 2


def test_estimate_grows_with_text():
    short = estimate_prompt_tokens([{"role": "user", "content": "hi"}])
    long = estimate_prompt_tokens([{"role": "user", "content": "hi " * 400}])
    assert long > short + 250


def _ask(n: int) -> Request:
    params = {"max_tokens": 50, **({"n": n} if n > 1 else {})}
    return Request([{"role": "user", "content": "count to ten"}], "sim-small",
                   "http://unused", params)


def test_an_estimate_counts_every_choice_as_an_answer():
    one = estimate_requests([_ask(1)], model="sim-small")
    three = estimate_requests([_ask(3)], model="sim-small")
    assert three.prompt_tokens == one.prompt_tokens
    assert three.completion_tokens == 3 * one.completion_tokens == 150


class RecordingLimiter(RateLimiter):
    def __init__(self) -> None:
        super().__init__(rpm=None, tpm=600_000)
        self.asked: list[int] = []

    async def acquire(self, tokens: int, priority: str = "bulk") -> Permit:
        self.asked.append(tokens)
        return await super().acquire(tokens, priority)


def test_the_tpm_limiter_reserves_every_choice():
    limiter = RecordingLimiter()
    engine = Engine(limiter_factory=lambda endpoint, settings: limiter)
    with Simulator() as sim:
        settings = resolve(base_url=sim.base_url, api_key="sk-test", model="sim-small",
                           tpm=600_000, cache=False)
        endpoint = Endpoint(sim.base_url, "sim-small", "sk-test")

        async def ask_both() -> list[str]:
            try:
                return [(await engine.complete(_ask(n), endpoint, settings)).text
                        for n in (1, 4)]
            finally:
                await close_connections()

        assert all(asyncio.run(ask_both()))
    prompt = estimate_prompt_tokens(_ask(1).messages)
    assert limiter.asked == [prompt + 50, prompt + 4 * 50]
