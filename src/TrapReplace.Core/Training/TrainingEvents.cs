namespace TrapReplace.Training;

/// <summary>The progress events every trainer and defense of this library raises (stage 1, stage 2, cleansing, each
/// peer), so a progress display or a curve recorder subscribes to any of them the same way.</summary>
public interface ITrainingEvents
{
    /// <summary>Raised after every optimisation step.</summary>
    event EventHandler<TrainingStepEventArgs>? StepCompleted;

    /// <summary>Raised after every epoch (or round).</summary>
    event EventHandler<EpochCompletedEventArgs>? EpochCompleted;
}

/// <summary>The loss parts of a step or an epoch (epoch values are sample-weighted means).</summary>
/// <param name="Total">The optimised loss.</param>
/// <param name="Classification">Cross-entropy part.</param>
/// <param name="Reconstruction">Mean squared reconstruction error before weighting (0 without a decoder).</param>
/// <param name="TotalVariation">Total variation of the reconstruction before weighting (0 without a decoder).</param>
public sealed record LossParts(double Total, double Classification, double Reconstruction, double TotalVariation);

/// <summary>Raised after each optimisation step.</summary>
public sealed class TrainingStepEventArgs(string stage, int epoch, int step, int stepsPerEpoch, LossParts loss, double imagesPerSecond) : EventArgs
{
    /// <summary><c>trap</c> or <c>replace</c>.</summary>
    public string Stage { get; } = stage;

    /// <summary>Epoch, counted from 0.</summary>
    public int Epoch { get; } = epoch;

    /// <summary>Step within the epoch, counted from 0.</summary>
    public int Step { get; } = step;

    /// <summary>Steps in the epoch.</summary>
    public int StepsPerEpoch { get; } = stepsPerEpoch;

    /// <summary>Loss parts of this step.</summary>
    public LossParts Loss { get; } = loss;

    /// <summary>Training throughput of this step.</summary>
    public double ImagesPerSecond { get; } = imagesPerSecond;
}

/// <summary>What one epoch did.</summary>
/// <param name="Epoch">Epoch, counted from 0.</param>
/// <param name="LearningRate">Learning rate used during the epoch.</param>
/// <param name="Loss">Sample-weighted mean loss parts.</param>
/// <param name="TrainAccuracy">Accuracy on the training batches as seen (augmented; for CutMix, against the majority label).</param>
/// <param name="ValidationAccuracy">Accuracy on the validation split, when the stage has one.</param>
/// <param name="Seconds">Wall time of the epoch.</param>
/// <param name="ImagesPerSecond">Training throughput.</param>
public sealed record EpochRecord(int Epoch, double LearningRate, LossParts Loss, double TrainAccuracy, double? ValidationAccuracy, double Seconds, double ImagesPerSecond)
{
    /// <summary>A label-free attack-success estimate after this epoch (stage 2 with an estimator only), else null.</summary>
    public double? EstimatedAttackSuccess { get; init; }
}

/// <summary>Raised after each epoch, once its checkpoint (if any) is written.</summary>
public sealed class EpochCompletedEventArgs(string stage, EpochRecord record, int epochs, TrapReplace.Models.TrapNetwork? network = null) : EventArgs
{
    /// <summary><c>trap</c> or <c>replace</c>.</summary>
    public string Stage { get; } = stage;

    /// <summary>The epoch's record.</summary>
    public EpochRecord Record { get; } = record;

    /// <summary>Epochs in the stage.</summary>
    public int Epochs { get; } = epochs;

    /// <summary>
    /// The network being trained, for per-epoch measurements (e.g. accuracy curves) in the handler.
    /// It is still owned by the trainer: do not dispose or keep it, and leave it as you found it
    /// (the evaluator restores the training mode it changes). Null when the raiser does not expose it.
    /// </summary>
    public TrapReplace.Models.TrapNetwork? Network { get; } = network;
}

/// <summary>
/// Thrown when a loss becomes NaN or infinite. The last good checkpoint (written at the end of
/// the previous epoch) is kept untouched, and its path is given so the run can resume from it
/// with different settings.
/// </summary>
public sealed class TrainingDivergedException(string stage, int epoch, int step, LossParts loss, string? lastGoodCheckpoint)
    : Exception($"{stage}: the loss became non-finite at epoch {epoch}, step {step} (total {loss.Total}, classification {loss.Classification}, reconstruction {loss.Reconstruction}, TV {loss.TotalVariation}). " +
                (lastGoodCheckpoint is null ? "No checkpoint was written yet." : $"The last good checkpoint is kept at {lastGoodCheckpoint}.") +
                " Lower the learning rate or check the input data.")
{
    /// <summary>The stage that diverged (its log name, e.g. <c>i-bau</c>).</summary>
    public string Stage { get; } = stage;

    /// <summary>Epoch of the bad step.</summary>
    public int Epoch { get; } = epoch;

    /// <summary>Step of the bad step.</summary>
    public int Step { get; } = step;

    /// <summary>Loss parts of the bad step.</summary>
    public LossParts Loss { get; } = loss;

    /// <summary>The checkpoint that is still good, if any.</summary>
    public string? LastGoodCheckpoint { get; } = lastGoodCheckpoint;
}
