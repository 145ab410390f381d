"""The captions of the figures in index.html: what each figure shows and how to read it."""

from __future__ import annotations

from phasegrok.config.schema import ClassifySpec
from phasegrok.tasks.base import FOURIER

EXAMPLES_PER_PHASE = 3  # runs per phase in the curves figure (`curves.examples`)


def captions(cs: ClassifySpec, any_still: bool, any_partial: bool = False) -> dict[str, str]:
    """Caption per figure kind (phase, the three maps, curves, lu) under thresholds `cs`;
    `any_partial`: some run has `partial_generalization` (the phase diagram's diamond)."""
    thr = f"{cs.threshold:g}"
    rise = (
        f"test accuracy rose by more than {cs.still_learning_delta:g} over the last"
        f" {100 * cs.still_learning_window:g}% of steps"
    )
    if any_still:
        still = (
            f"Hatched: at least one seed was still learning when training stopped ({rise}), so"
            " its phase may reflect the step budget rather than the run."
        )
    else:
        still = f"No run was still learning when training stopped (none whose {rise})."
    partial = (
        " White diamond: most of the cell's seeds generalized partially (partial_generalization:"
        f" final test accuracy at least halfway from chance, 1 / classes, to {thr}, and below"
        f" {thr}), whatever their phase."
        if any_partial
        else ""
    )
    return {
        "phase": "Phase of each grid point: majority over seeds; a lighter colour and the k/n"
        " count (seeds in the majority phase / seeds) mark split votes. Facets are the remaining"
        " grid axes. " + still + partial,
        "t_gen": f"Median over seeds of the first step with test accuracy ≥ {thr} (log colour"
        " scale). Grey ×: the median seed never generalized within the budget. " + still,
        "final_test_acc": "Median over seeds of the test accuracy at the last step. " + still,
        "grok_delay": f"Median over seeds of t_gen − t_fit (steps between train and test"
        f" accuracy reaching {thr}; symmetric-log colour scale). Grey ×: the median seed never"
        f" generalized. Below grok_gap = {cs.grok_gap:g} steps counts as comprehension. " + still,
        "curves": "Train (dashed) and test (solid) accuracy against optimization step for up to"
        f" {EXAMPLES_PER_PHASE} runs per phase, spread from fastest to slowest to generalize;"
        " symmetric-log step axis (linear below the first eval step, so step 0 shows).",
        "lu": "Omnigrok's LU picture: train and test loss against the parameter norm. Lines:"
        " the example runs of the curves figure over training; dots: every run's final state."
        " Losses below 2^-23 (float32's resolution; exact zeros too) sit on the dotted floor.",
    }


LENS_INTRO = (
    "What the runs learned, read from their parameters (phasegrok.lens.fourier). Modular tasks: the"
    " token maps E·W (the first hidden layer's input from each token) are Fourier-transformed"
    " over the op's cyclic group (the tokens for add / sub, their discrete logarithms for"
    " mul / div; no lens for square_sum, add_integers or a composite mul); a generalizing model"
    " concentrates their power on a few frequencies and puts its tokens on circles. Parity:"
    " the share of the first layer's weight on the k label bits, and the hidden units still"
    " reading an irrelevant bit."
)


def lens_captions(lens: str, top_k: int, threshold: float) -> dict[str, str]:
    """Caption per lens figure kind (lens_curve, and spectrum and star, or weights)."""
    out = {
        "lens_curve": "Top: test (solid) and train (dashed) accuracy against step (symmetric-log"
        " axis), dotted and dashed verticals at t_fit and t_gen. Bottom: the lens metric of"
        " curves.parquet over the same steps; open circles recompute it from the parameters"
        " saved at those steps. "
    }
    if lens == FOURIER:
        out["lens_curve"] += (
            f"Solid: top-{top_k} Fourier share; dotted: Gini of the spectrum; dashed: the share"
            " of a uniform spectrum. In a grokking run the concentration rises with test accuracy."
        )
        out["spectrum"] = (
            "Share of the token maps' power (Σ over both operands and every hidden unit of"
            " |X_f|² + |X_−f|², X the DFT over the op's cyclic group: the tokens a for add / sub,"
            " the non-zero tokens in the order of their discrete logarithm j = log_g a for"
            " mul / div) at each frequency 1 .. n//2 at the last step. Coloured and labelled:"
            f" the {top_k} key frequencies (the strongest in bold); dashed: a uniform spectrum."
        )
        out["star"] = (
            "The star. Top: one ray per hidden unit u, its token map m_u(a) (the first layer's"
            " input from token a) projected onto cos and sin of its own strongest frequency f_u,"
            " coloured by f_u (faint when the unit is not a clean sinusoid). A generalizing model"
            " puts every unit on a few frequencies. Bottom: every token in the plane of the"
            " run's strongest frequency f, fitted as cos / sin coordinates: a pure frequency-f"
            " map puts the token of group index j (a for add / sub, log_g a for mul / div) at"
            " angle 2π f j / n on the dashed unit circle."
        )
    else:
        out["lens_curve"] += (
            "Solid: share of the first layer's squared weight on the k label bits; dotted (right"
            " axis): hidden units reading an irrelevant bit; dashed: an even spread k/n."
        )
        out["weights"] = (
            "|W|, the first layer's (input bit × hidden unit) kernel at each step whose"
            " parameters were saved (train.save_params_at and the last step), one colour scale."
            " Rows above the blue line are the k label bits. Hidden units are sorted by their"
            f" final weight on the label bits. Titles: relevant weight share and units with some"
            f" |W| > {threshold:g} on an irrelevant bit."
        )
    return out
