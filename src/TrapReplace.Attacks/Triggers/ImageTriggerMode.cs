namespace TrapReplace.Attacks.Triggers;

/// <summary>How an <see cref="ImageTrigger"/> uses the user's image.</summary>
public enum ImageTriggerMode
{
    /// <summary>The image is a patch stamped into a <see cref="PatchRegion"/>, alpha-composited with its own
    /// alpha channel: x' = x·(1 − a) + t·a (opaque pixels replace the image).</summary>
    Patch,

    /// <summary>The image is stretched over the whole picture and blended: x' = (1 − α)·x + α·t.</summary>
    Blend,
}
