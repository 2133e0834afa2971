using TrapReplace.Experiments.Results;

namespace TrapReplace.Experiments.Running;

/// <summary>A curve point with the defense phase and epoch it measured (<c>stage#epoch</c>), as the work folder keeps it.</summary>
internal sealed record KeyedCurvePoint(string Key, CurvePoint Point)
{
    public static string KeyOf(string stage, int epoch) => $"{stage}#{epoch}";
}

/// <summary>
/// A defense's curve over a run that may resume an interrupted one. Points are keyed by the defense's phase (its
/// stage name, unique per phase) and the epoch within it. An epoch the resumed defense measures again replaces the
/// interrupted run's point; the points of epochs it does not run again (restored from its checkpoints, whole phases
/// included) stay in their place: anything measured before such an epoch in the interrupted run comes before it, and
/// an epoch measured for the first time comes after everything the interrupted run measured. The curve is therefore the
/// one an uninterrupted run draws, numbered 1, 2, ... in that order.
/// </summary>
internal sealed class DefenseCurve(IReadOnlyList<KeyedCurvePoint> resumed)
{
    private readonly List<KeyedCurvePoint> points = [];
    private int placed;   // how many of the resumed points are behind us

    /// <summary>The points so far, in curve order.</summary>
    public IReadOnlyList<KeyedCurvePoint> Points => points;

    /// <summary>Points the interrupted run left.</summary>
    public int ResumedCount => resumed.Count;

    /// <summary>Adds the point of <paramref name="stage"/>'s <paramref name="epoch"/>; <paramref name="measure"/> gets
    /// its number in the curve.</summary>
    public void Add(string stage, int epoch, Func<int, CurvePoint> measure)
    {
        var key = KeyedCurvePoint.KeyOf(stage, epoch);
        int again = -1;
        for (int i = placed; i < resumed.Count && again < 0; i++)
            if (resumed[i].Key == key) again = i;
        PlaceResumed(again >= 0 ? again : resumed.Count);
        if (again >= 0) placed = again + 1;
        points.Add(new KeyedCurvePoint(key, measure(points.Count + 1)));
    }

    /// <summary>Places what the resumed defense did not measure again after its last epoch (it was all restored).</summary>
    public void Finish() => PlaceResumed(resumed.Count);

    private void PlaceResumed(int until)
    {
        for (; placed < until; placed++)
            points.Add(resumed[placed] with { Point = resumed[placed].Point with { Epoch = points.Count + 1 } });
    }
}
