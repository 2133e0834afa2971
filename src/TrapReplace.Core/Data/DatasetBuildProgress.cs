namespace TrapReplace.Data;

/// <summary>Progress of building a data set from image files (decoding, resizing, converting).</summary>
/// <param name="Stage">What is being built, for example <c>train</c> or <c>test</c> for GTSRB, or the
/// image folder's path.</param>
/// <param name="Completed">Images done so far.</param>
/// <param name="Total">Images to do in this stage.</param>
public sealed record DatasetBuildProgress(string Stage, int Completed, int Total)
{
    /// <summary>Fraction done in [0, 1] (1 for an empty stage).</summary>
    public double Fraction => Total > 0 ? Math.Clamp((double)Completed / Total, 0, 1) : 1;
}
