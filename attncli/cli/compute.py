"""`attn compute`: the Typer command (its options and help). The work is attncli.cli.run_compute's,
which the fast path (attncli.cli.fastpath) calls without Typer for plain invocations."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from attncli.cli.options import (
    MHA,
    AlignOpt,
    CausalOpt,
    ChunkOpt,
    DebugOpt,
    DocumentsOpt,
    DTypeOpt,
    EmptyRowOpt,
    ExplainCellOpt,
    FormatOpt,
    InputOpt,
    JsonOpt,
    KLabelsOpt,
    KOpt,
    LabelsOpt,
    LangOpt,
    MaskOpt,
    MaxMemoryOpt,
    NoColorOpt,
    PositionalChoice,
    PrefixOpt,
    QOpt,
    QueryPreAttnScalarOpt,
    QuietOpt,
    RopeStyleChoice,
    SampleOpt,
    SaveHtmlOpt,
    SaveSvgOpt,
    ScaleOpt,
    SinksOpt,
    SinkTokensOpt,
    SoftcapOpt,
    StageOpt,
    ViewOpt,
    VOpt,
    WindowOpt,
    WindowRightOpt,
    WindowRuleOpt,
    matrix_option,
)
from attncli.cli.run_compute import ComputeRequest, run_compute

XOpt = Annotated[str | None, matrix_option("Inputs X (T×d_model) for self-attention; projected by --wq/--wk/--wv.")]

QInputOpt = Annotated[str | None, matrix_option("Query-side inputs (T×d_model) for cross-attention.")]

KvInputOpt = Annotated[str | None, matrix_option("Key/value-side inputs (S×d_model) for cross-attention.")]

WqOpt = Annotated[str | None, matrix_option("W_q (d_model × heads·d_head): Q = X·W_q (nn.Linear's weight.T).")]

WkOpt = Annotated[str | None, matrix_option("W_k (d_model × kv_heads·d_head).")]

WvOpt = Annotated[str | None, matrix_option("W_v (d_model × kv_heads·d_v).")]

WoOpt = Annotated[str | None, matrix_option("W_o (heads·d_v × d_out): output = concat·W_o.")]

BqOpt = Annotated[str | None, matrix_option("Bias added to Q.")]

BkOpt = Annotated[str | None, matrix_option("Bias added to K.")]

BvOpt = Annotated[str | None, matrix_option("Bias added to V.")]

BoOpt = Annotated[str | None, matrix_option("Bias added to the output.")]

HeadsOpt = Annotated[int | None, typer.Option(min=1, help="Number of heads H.", rich_help_panel=MHA)]

KvHeadsOpt = Annotated[
    int | None, typer.Option(min=1, help="K/V heads G (grouped-query; H divisible by G).", rich_help_panel=MHA)
]

HeadOpt = Annotated[int | None, typer.Option(min=1, help="Show only head N (1-based).", rich_help_panel=MHA)]

AverageHeadsOpt = Annotated[
    bool,
    typer.Option(
        "--average-heads",
        help="Also show the head-averaged weights (nn.MultiheadAttention's default).",
        rich_help_panel=MHA,
    ),
]

RandomWeightsOpt = Annotated[
    bool | None,
    typer.Option("--random-weights", help="Reproducible demo weights (see --seed).", rich_help_panel=MHA),
]

SeedOpt = Annotated[int | None, typer.Option(min=0, help="Seed of --random-weights (default 0).", rich_help_panel=MHA)]

PositionalOpt = Annotated[
    PositionalChoice | None,
    typer.Option(help="Add sinusoidal position encodings to the inputs.", rich_help_panel=MHA),
]

RopeOpt = Annotated[
    bool | None, typer.Option("--rope", help="Rotary position embedding on q and k.", rich_help_panel=MHA)
]

RopeStyleOpt = Annotated[
    RopeStyleChoice | None,
    typer.Option(help="half (GPT-NeoX, Llama; default) or interleaved (RoFormer, GPT-J).", rich_help_panel=MHA),
]

RopeBaseOpt = Annotated[float | None, typer.Option(help="RoPE base (default 10000).", rich_help_panel=MHA)]

AlibiOpt = Annotated[
    bool | None, typer.Option("--alibi", help="ALiBi distance penalties per head.", rich_help_panel=MHA)
]

ThreadsOpt = Annotated[int | None, typer.Option(min=1, help="Worker and BLAS threads (default: the cores available).")]
QkNormOpt = Annotated[
    bool | None,
    typer.Option(
        "--qk-norm", help="QK-norm (Gemma 3, Qwen 3): RMSNorm of each head's q and k before RoPE.", rich_help_panel=MHA
    ),
]
QNormOpt = Annotated[
    str | None, matrix_option("QK-norm weights of q (d_head numbers; default ones); implies --qk-norm.")
]
KNormOpt = Annotated[
    str | None, matrix_option("QK-norm weights of k (d_head numbers; default ones); implies --qk-norm.")
]
QkNormEpsOpt = Annotated[float | None, typer.Option(min=0.0, help="QK-norm's ε (default 1e-6).", rich_help_panel=MHA)]
MlaOpt = Annotated[
    str | None,
    typer.Option(
        metavar="D_C,D_ROPE,D_NOPE,D_V",
        help="Multi-head latent attention (DeepSeek-V2/V3) of --x with --heads, random weights (--seed): the latent "
        "width, the RoPE and no-RoPE widths of a query/key head, the value width, e.g. 4,2,2,2.",
        rich_help_panel=MHA,
    ),
]
DecodeOpt = Annotated[
    int | None,
    typer.Option(
        min=1,
        metavar="N",
        help="KV-cache decoding: the last N queries as one step against the cached keys and values, "
        "beside the full recompute (what the cache holds, its bytes).",
    ),
]
SaveOpt = Annotated[
    Path | None,
    typer.Option(help="Write the result to FILE.npy (the output) or FILE.npz (every stage kept) instead of tables."),
]


def register(app: typer.Typer) -> None:
    app.command(epilog=EPILOG)(compute)


EPILOG = (
    "Examples:\n\n"
    "  attn compute --q '[[1,0]]' --k '[[0.5,0.5],[0.3,0.7]]' --v '[[1,0],[0.5,0.5]]'\n\n"
    "  attn compute --q '1 0; 0 1' --k '1 0; 0 1' --v '1 0; 0 1' --causal\n\n"
    "  attn compute --input samples/cat-sits.json --json | jq '.stages.weights'\n\n"
    "  attn compute --input samples/mha-2heads.json --head 1\n\n"
    "  attn compute --sample window-hf --stage visible\n\n"
    "  attn compute --sample causal-4x4 --decode 1\n\n"
    "  attn compute --x '1 0 1 0; 0 1 0 1; 1 1 0 0' --heads 2 --mla 4,2,2,2 --causal\n\n"
    "  attn compute --x '[[1,0,1,0],[0,2,0,2]]' --heads 8 --kv-heads 2 --random-weights --seed 7"
)


def compute(
    ctx: typer.Context,
    q: QOpt = None,
    k: KOpt = None,
    v: VOpt = None,
    mask: MaskOpt = None,
    causal: CausalOpt = None,
    causal_align: AlignOpt = None,
    scale: ScaleOpt = None,
    empty_row: EmptyRowOpt = None,
    dtype: DTypeOpt = None,
    window: WindowOpt = None,
    window_rule: WindowRuleOpt = None,
    window_right: WindowRightOpt = None,
    chunk: ChunkOpt = None,
    prefix: PrefixOpt = None,
    documents: DocumentsOpt = None,
    sink_tokens: SinkTokensOpt = None,
    softcap: SoftcapOpt = None,
    sinks: SinksOpt = None,
    query_pre_attn_scalar: QueryPreAttnScalarOpt = None,
    input: InputOpt = None,
    sample: SampleOpt = None,
    labels: LabelsOpt = None,
    k_labels: KLabelsOpt = None,
    json_out: JsonOpt = False,
    stage: StageOpt = None,
    precision: Annotated[int, typer.Option(min=0, max=15, help="Decimals shown in tables.")] = 4,
    explain_cell: ExplainCellOpt = None,
    decode: DecodeOpt = None,
    x: XOpt = None,
    q_input: QInputOpt = None,
    kv_input: KvInputOpt = None,
    wq: WqOpt = None,
    wk: WkOpt = None,
    wv: WvOpt = None,
    wo: WoOpt = None,
    bq: BqOpt = None,
    bk: BkOpt = None,
    bv: BvOpt = None,
    bo: BoOpt = None,
    heads: HeadsOpt = None,
    kv_heads: KvHeadsOpt = None,
    head: HeadOpt = None,
    average_heads: AverageHeadsOpt = False,
    random_weights: RandomWeightsOpt = None,
    seed: SeedOpt = None,
    positional: PositionalOpt = None,
    rope: RopeOpt = None,
    rope_style: RopeStyleOpt = None,
    rope_base: RopeBaseOpt = None,
    alibi: AlibiOpt = None,
    qk_norm: QkNormOpt = None,
    q_norm: QNormOpt = None,
    k_norm: KNormOpt = None,
    qk_norm_eps: QkNormEpsOpt = None,
    mla: MlaOpt = None,
    threads: ThreadsOpt = None,
    save: SaveOpt = None,
    max_memory: MaxMemoryOpt = None,
    format: FormatOpt = None,
    heatmap: Annotated[bool, typer.Option("--heatmap", help="Also show the weights as a coloured heatmap.")] = False,
    save_svg: SaveSvgOpt = None,
    save_html: SaveHtmlOpt = None,
    view: ViewOpt = None,
    no_color: NoColorOpt = False,
    quiet: QuietOpt = False,
    lang: LangOpt = None,
    debug: DebugOpt = False,
) -> None:
    """Compute attention and show every stage: scores, scaling, mask, softmax, weighted sum.

    With --x (or --q-input and --kv-input) and projection weights, or --heads, it runs multi-head
    attention: projections, heads, positions (sinusoidal, RoPE, ALiBi), concatenation, output projection.
    """
    run_compute(ComputeRequest.from_options(ctx.params))  # Typer's parameters by name, as the fast path gives them
