namespace TrapReplace.Attacks.Triggers;

/// <summary>How the SIG sinusoid is combined with an image.</summary>
public enum SigMode
{
    /// <summary>The reference T&amp;R form: x' = (1 − α)·x + α·s with the sinusoid stored as a 0–255 image,
    /// s(j) = ⌊127.5·(1 + sin(2π·j·f/W))⌋.</summary>
    Blend,

    /// <summary>The form of Barni et al. and BackdoorBench: x' = x + Δ·sin(2π·j·f/W), clipped.</summary>
    Additive,
}
