"""``strat review``: a local web application to confirm or fix flagged examples of a run.

A thin FastAPI shell over :class:`~stratigraphy.runview.RunView` (what the run found) and
:class:`~stratigraphy.review_log.ReviewLog` (what people decided). It binds to 127.0.0.1 unless
told otherwise, and any other address requires a token on every request.
"""

from __future__ import annotations

import ipaddress
import secrets
from pathlib import Path
from typing import Any, Literal

import jinja2
import numpy as np
from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.trustedhost import TrustedHostMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from stratigraphy.analysis.flags import flag_shortfall, wrong_labels_withheld
from stratigraphy.analysis.neighbours import ProbeNeighbours
from stratigraphy.core.errors import ConfigError
from stratigraphy.curate.review_log import DECISIONS, ReviewError, ReviewLog
from stratigraphy.present import plots
from stratigraphy.probes.suites import suites_where
from stratigraphy.rundir.layout import REVIEW_DB, balanced_column
from stratigraphy.rundir.view import RunView

FLAGGED = suites_where(flagged=True)
NEIGHBOURS = 10
MAX_BODY_BYTES = 16 * 1024

_env = jinja2.Environment(
    loader=jinja2.PackageLoader("stratigraphy.present", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"]),
)


class DecisionIn(BaseModel):
    """One reviewer's decision on one example, as the page posts it: ids are JSON integers only
    (not "3", not true)."""

    model_config = ConfigDict(strict=True, extra="forbid")

    example: int = Field(ge=0)
    decision: Literal["keep", "relabel", "ood", "remove", "skip"]
    label: int | None = Field(default=None, ge=0)
    reviewer: str = Field(default="anonymous", min_length=1, max_length=100)


def allowed_hosts(host: str) -> list[str]:
    """Host headers the server answers: the bound address, and the loopback names when bound to
    loopback. Anything else (a DNS-rebinding page's own name) is refused."""
    if is_loopback(host):
        return ["127.0.0.1", "localhost", "::1", "[::1]"]
    return [host, f"[{host}]"] if ":" in host else [host]


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, token: str | None) -> None:
    """Refuse to serve a non-loopback address without a token."""
    if not is_loopback(host) and not token:
        raise ConfigError(
            f"--host {host} exposes the review page beyond this machine; pass --token SECRET "
            "(every request must then carry it), or keep the default 127.0.0.1."
        )


def _highest_first(rows: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``rows`` by ``values`` (one per example), highest first, ties in their order, NaN last."""
    v = np.nan_to_num(np.asarray(values, np.float64)[rows], nan=-np.inf)
    return rows[np.argsort(-v, kind="stable")]


class ReviewData:
    """What the pages show, precomputed once per server."""

    def __init__(self, view: RunView) -> None:
        self.view = view
        ex = view.examples
        self.examples = ex
        self.metadata = ex["metadata"].astype(str)
        self.confidence = np.nan_to_num(ex["confidence"].astype(np.float32))
        self.probes = ProbeNeighbours(view)
        scored = np.flatnonzero(self.metadata != "unscored")
        self.by_confidence = _highest_first(scored, self.confidence)
        self.queue = self._flag_queue(ex)
        self.by_mislabel_score = _highest_first(scored, ex["mislabel_score"])
        self._by_balanced: dict[str, np.ndarray] = {}
        # Open on the likeliest label errors where none can be flagged, or few of many
        self.rank_first = (wrong_labels_withheld(view.summary)
                           or flag_shortfall(view.summary) is not None)  # fmt: skip
        self.data = view.data
        self.issues = [c[3:] for c in ex if c.startswith("is_") and f"{c[3:]}_score" in ex]

    def filtered(
        self, kind: str | None, issue: str | None, label: int | None, ranked: bool = False
    ) -> np.ndarray:
        """The queue: flagged examples, or one inferred kind's, or one issue type's, or (``ranked``)
        every example by ``mislabel_score``, flagged or not; optionally of one class."""
        q = self.by_mislabel_score if ranked else self.queue
        if kind:
            q = self.kind_queue(kind)
        if issue:
            if issue not in self.issues:
                raise HTTPException(404, f"unknown issue {issue!r}; this run has {self.issues}")
            q = self.issue_queue(issue)
        if label is not None:
            q = q[self.examples["label"][q] == label]
        return q

    def kind_queue(self, kind: str) -> np.ndarray:
        """One inferred kind's examples, most confident first. An input kind estimated absent
        (its prior zero, so no example is most probably of it) ranks every example by its
        balanced probability of that kind instead, so the examples the share's interval allows
        can still be looked at."""
        q = self.by_confidence[self.metadata[self.by_confidence] == kind]
        column = balanced_column(kind)
        if q.size or column not in self.examples:
            return q
        if kind not in self._by_balanced:  # sorted once, not on every page of the queue
            self._by_balanced[kind] = _highest_first(self.by_confidence, self.examples[column])
        return self._by_balanced[kind]

    def offered_kinds(self) -> list[str]:
        """The kinds the page offers: those some example most probably is, and those that still
        rank the examples by their balanced probability."""
        return [k for k in self.view.suites
                if np.any(self.metadata == k) or balanced_column(k) in self.examples]  # fmt: skip

    def issue_queue(self, issue: str) -> np.ndarray:
        """The examples an issue type found, highest score first."""
        ex = self.examples
        return _highest_first(np.flatnonzero(ex[f"is_{issue}"].astype(bool)), ex[f"{issue}_score"])

    def _flag_queue(self, ex: dict[str, np.ndarray]) -> np.ndarray:
        """The examples flagged at the run's error level, strongest evidence (smallest q-value)
        first; runs written before flags existed queue their flag-worthy inferred kinds."""
        if "flagged" not in ex:
            return self.by_confidence[np.isin(self.metadata[self.by_confidence], FLAGGED)]
        flagged = np.flatnonzero(ex["flagged"].astype(bool))
        q = ex["q_value"] if "q_value" in ex else ex["p_value"]
        order = np.lexsort((-self.confidence[flagged], q[flagged]))
        return flagged[order]

    def summary_of(self, i: int) -> dict[str, Any]:
        ex = self.examples
        return {
            "index": i,
            "label": int(ex["label"][i]),
            "suggested": int(ex["suggested_label"][i]),
            "suggested_confidence": self.view.value_at("suggested_confidence", i),
            "metadata": str(self.metadata[i]),
            "confidence": float(self.confidence[i]),
            "verdict": str(ex["verdict"][i]) if "verdict" in ex else None,
            "reason": str(ex["reason"][i]) if "reason" in ex else "",
            "q_value": float(ex["q_value"][i]) if "q_value" in ex else None,
            "mislabel_score": float(ex["mislabel_score"][i]),
        }

    def detail(self, i: int) -> dict[str, Any]:
        ex = self.examples
        out = self.summary_of(i)
        out["probabilities"] = {s: float(np.nan_to_num(ex[f"p_{s}"][i])) for s in self.view.suites}
        out["scores"] = {
            k: float(np.nan_to_num(ex[k][i]))
            for k in ("mislabel_score", "mean_loss", "aum", "cartography_confidence", "forgetting")
            if k in ex
        }
        row = int(ex["row"][i])
        if row >= 0:
            own = self.probes.trajectories(np.array([row]))[0]
            nbr = self.probes.nearest(np.array([row]), NEIGHBOURS)[0]
            out["trajectory"] = own.round(4).tolist()
            out["neighbours"] = [
                {
                    "kind": str(self.probes.kinds[j]),
                    "trajectory": self.probes.refs[j].round(4).tolist(),
                }
                for j in nbr
            ]
        else:
            out["trajectory"], out["neighbours"] = [], []
        out["has_input"] = self.data is not None and self.data.modality == "image"
        if "caption" in ex:
            out["caption"] = str(ex["caption"][i])
        return out


def create_app(run_dir: str | Path, token: str | None = None, host: str = "127.0.0.1") -> FastAPI:
    """The review application over one finished run, answering only requests addressed to
    ``host`` (the address it is bound to)."""
    view = RunView.open(run_dir)
    data = ReviewData(view)
    n_classes = len(view.class_names)
    log = ReviewLog(Path(run_dir) / REVIEW_DB, view.n_examples, n_classes)
    app = FastAPI(title="stratigraphy review", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.log = log

    @app.exception_handler(RequestValidationError)
    async def invalid_body(_request: Request, exc: RequestValidationError) -> JSONResponse:
        """The error's place and message only: the body is never echoed back."""
        detail = [{"loc": e.get("loc"), "msg": e.get("msg")} for e in exc.errors()]
        return JSONResponse({"detail": detail}, status_code=422)

    _guard(app, token)
    app.add_middleware(TrustedHostMiddleware, allowed_hosts=allowed_hosts(host))
    _read_routes(app, view, data, log)
    _write_routes(app, log)
    return app


def _guard(app: FastAPI, token: str | None) -> None:
    """Every response: the token check (when one is set) and headers that keep the page
    to itself."""

    @app.middleware("http")
    async def require_token(request: Request, call_next: Any) -> Response:
        if request.method in ("POST", "PUT", "PATCH"):
            length = request.headers.get("content-length")
            if length is None:
                return JSONResponse({"detail": "a Content-Length is required"}, status_code=411)
            if not length.isdigit() or int(length) > MAX_BODY_BYTES:
                return JSONResponse(
                    {"detail": f"request bodies are limited to {MAX_BODY_BYTES} bytes"},
                    status_code=413,
                )
        if token is not None:
            given = request.headers.get("x-strat-token") or request.query_params.get("token") or ""
            if not secrets.compare_digest(given.encode(), token.encode()):
                return JSONResponse({"detail": "missing or wrong token"}, status_code=401)
        response: Response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
            "script-src 'self' 'unsafe-inline'"
        )
        return response


def _read_routes(app: FastAPI, view: RunView, data: ReviewData, log: ReviewLog) -> None:
    """The page, the queue, an example's details and its input."""

    @app.get("/", response_class=HTMLResponse)
    def page() -> str:
        kinds = data.offered_kinds()
        return _env.get_template("review.html.j2").render(
            name=view.run["data"]["name"],
            config={
                "classes": view.class_names,
                "kinds": kinds,
                "decisions": list(DECISIONS),
                "colours": {k: plots.kind_colour(k, view.suites) for k in view.suites},
                "issues": data.issues,
                "rank_first": data.rank_first,
            },
        )

    def _check_example(i: int) -> None:
        if not 0 <= i < view.n_examples:
            raise HTTPException(404, f"unknown example {i}; examples are 0..{view.n_examples - 1}")

    @app.get("/api/queue")
    def queue(
        kind: str | None = None,
        issue: str | None = None,
        label: int | None = None,
        ranked: bool = False,
        include_decided: bool = False,
        offset: int = Query(0, ge=0),
        limit: int = Query(100, ge=1, le=1000),
    ) -> dict[str, Any]:
        q = data.filtered(kind, issue, label, ranked)
        state = log.state()
        if not include_decided:
            q = q[~np.isin(q, np.fromiter(state, dtype=np.int64, count=len(state)))]
        items = [data.summary_of(int(i)) for i in q[offset : offset + limit]]
        for it in items:
            d = state.get(it["index"])
            it["decision"] = None if d is None else {"decision": d.decision, "label": d.label}
        return {"total": int(q.size), "decided": len(state), "logged": log.count(), "items": items}

    @app.get("/api/examples/{i}")
    def example(i: int) -> dict[str, Any]:
        _check_example(i)
        out = data.detail(i)
        out["history"] = [d.__dict__ for d in log.history(i)]
        current = log.state().get(i)
        out["current"] = None if current is None else current.__dict__
        return out

    @app.get("/api/examples/{i}/input.png")
    def example_input(i: int) -> Response:
        _check_example(i)
        png = plots.input_png(data.data.X[i]) if data.data is not None else None
        if png is None:
            raise HTTPException(404, "this run's inputs are not images or cannot be reloaded")
        return Response(png, media_type="image/png")


def _write_routes(app: FastAPI, log: ReviewLog) -> None:
    """Appending a decision, and the decisions as CSV."""

    @app.post("/api/decisions", status_code=201)
    def decide(body: DecisionIn) -> dict[str, Any]:
        try:
            return log.append(body.example, body.decision, body.label, body.reviewer).__dict__
        except ReviewError as exc:
            raise HTTPException(422, str(exc)) from None

    @app.get("/api/decisions.csv", response_class=PlainTextResponse)
    def decisions_csv(current: bool = False) -> PlainTextResponse:
        return PlainTextResponse(
            log.to_csv(current_only=current),
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="decisions.csv"'},
        )


def serve(
    run_dir: str | Path, host: str = "127.0.0.1", port: int = 8765, token: str | None = None
) -> None:
    """Run the review server until interrupted."""
    import uvicorn

    check_binding(host, token)
    uvicorn.run(create_app(run_dir, token, host), host=host, port=port, log_level="warning")
