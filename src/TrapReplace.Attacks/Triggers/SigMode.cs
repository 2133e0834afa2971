namespace TrapReplace.Attacks.Triggers;

/// <summary>How the SIG sinusoid is combined with an image.</summary>
public enum SigMode
{
    /// <summary>The reference T&amp;R code's signal, byte for byte: per column j, s(j) = uint8(trunc(20·sin(0.8·j))), so the
    /// negative half-waves wrap around to 237–255; x' = 0.8·x + 0.2·s. It acts as a vertical stripe pattern (period ≈ 7.85
    /// columns, 4 on / 4 off) that brightens alternate column groups by about 47–51. Frequency and Δ do not apply.</summary>
    Reference,

    /// <summary>A smooth sinusoid stored as a 0–255 image and blended: x' = (1 − α)·x + α·s with
    /// s(j) = ⌊127.5·(1 + sin(2π·j·f/W))⌋ (the <c>sig-smooth</c> attack).</summary>
    Blend,

    /// <summary>The form of Barni et al. and BackdoorBench: x' = x + Δ·sin(2π·j·f/W), clipped.</summary>
    Additive,
}
