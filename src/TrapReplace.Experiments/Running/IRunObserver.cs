using TrapReplace.Experiments.Results;

namespace TrapReplace.Experiments.Running;

/// <summary>What a running cell reports, for the terminal (live table, plain lines or nothing).</summary>
public interface IRunObserver
{
    /// <summary>A training phase starts.</summary>
    /// <param name="phase">stage1 or defense.</param>
    /// <param name="title">What it trains, for display.</param>
    /// <param name="epochs">Epochs in the phase.</param>
    void PhaseStarted(string phase, string title, int epochs);

    /// <summary>An optimisation step finished.</summary>
    void Step(string phase, int epoch, int step, int steps, double loss, double imagesPerSecond);

    /// <summary>An epoch finished and was measured.</summary>
    void EpochDone(CurvePoint point, int epochs, double imagesPerSecond, double seconds);

    /// <summary>A one-line note (data loaded, stage 1 reused, evaluating...).</summary>
    void Note(string message);
}
