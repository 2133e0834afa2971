namespace TrapReplace.Attacks.Triggers;

/// <summary>How a <see cref="PatternTrigger"/> combines its pattern t with an image x (both on the 0–255 scale).</summary>
public enum PatternComposition
{
    /// <summary>x' = x·(1 − m) + t·m with the trigger's mask m in [0, 1]: pixels under the mask are replaced.</summary>
    Replace,

    /// <summary>x' = x + t: the pattern is added to the image.</summary>
    Add,

    /// <summary>x' = (1 − α)·x + α·t: the pattern is blended over the whole image with weight α.</summary>
    Blend,
}
