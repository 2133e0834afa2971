namespace TrapReplace.Training;

/// <summary>Sample-weighted running means of the loss parts.</summary>
internal sealed class LossAccumulator
{
    private double total, classification, reconstruction, tv;
    private long count;

    public void Add(LossParts parts, int samples)
    {
        total += parts.Total * samples;
        classification += parts.Classification * samples;
        reconstruction += parts.Reconstruction * samples;
        tv += parts.TotalVariation * samples;
        count += samples;
    }

    public LossParts Mean() => count == 0 ? new LossParts(0, 0, 0, 0) : new LossParts(total / count, classification / count, reconstruction / count, tv / count);
}
