using System.Globalization;
using TorchSharp.Modules;
using TrapReplace.Data;
using TrapReplace.Models;
using static TorchSharp.torch;

namespace TrapReplace.Training;

/// <summary>
/// The one loop over epochs behind stage 1, head replacement, fine-tuning and every peer that trains: per epoch the
/// learning rate, the modes, the steps (through <see cref="EpochRunner"/>: seeds, step scope, divergence check, step
/// events), what the trainer measures and keeps, the history and the log line, then the observers and only then the
/// checkpoint. A trainer says what differs (its step, its schedule, what it keeps); the order is written once, here.
/// </summary>
internal sealed class EpochLoop
{
    /// <summary>Runs each epoch's steps; its stage names the log lines and events.</summary>
    public required EpochRunner Runner { get; init; }

    public required OptimizerHelper Optimizer { get; init; }

    public required BatchLoader Loader { get; init; }

    /// <summary>The network that trains, handed to observers with each epoch.</summary>
    public required TrapNetwork Network { get; init; }

    /// <summary>Epochs in this phase.</summary>
    public required int Epochs { get; init; }

    /// <summary>The learning rate of an epoch of the phase, set on the optimizer before the epoch begins.</summary>
    public required Func<int, double> LearningRate { get; init; }

    /// <summary>Before the epoch's steps: the training modes (a frozen stem stays in eval mode so its BatchNorm statistics
    /// do not move) and whatever else the steps need.</summary>
    public required Action<int> BeginEpoch { get; init; }

    /// <summary>A step's loss from images (B, 3, H, W) in [0, 1], labels (B) on the device, the phase's epoch and the step's
    /// index in the epoch.</summary>
    public required Func<Tensor, Tensor, int, int, StepOutput> Step { get; init; }

    /// <summary>Runs after every optimizer step (pruned weights kept at zero, masks clamped); null for nothing.</summary>
    public Action? AfterStep { get; init; }

    /// <summary>The most steps an epoch may take (budgets counted in iterations); null runs every epoch whole.</summary>
    public Func<int, int?>? StepLimit { get; init; }

    /// <summary>Added to the phase's epoch to seed its batches and generator, so seeds run on over phases.</summary>
    public int SeedOffset { get; init; }

    /// <summary>Added to the phase's epoch to number its record.</summary>
    public int RecordOffset { get; init; }

    /// <summary>After the steps, before anything hears of the epoch: measures (validation accuracy) and keeps (best head,
    /// snapshots), returning the epoch's finished record; null keeps the record as the steps left it.</summary>
    public Func<int, EpochRecord, EpochRecord>? EndEpoch { get; init; }

    /// <summary>Raises the trainer's epoch event.</summary>
    public required Action<EpochCompletedEventArgs> EpochCompleted { get; init; }

    /// <summary>Writes the checkpoint after an epoch, with the history so far; null without one.</summary>
    public Action<int, IReadOnlyList<EpochRecord>>? SaveCheckpoint { get; init; }

    /// <summary>Runs epochs <paramref name="first"/> .. <see cref="Epochs"/> - 1, adding each record to <paramref name="history"/>.</summary>
    public void Run(int first, List<EpochRecord> history, CancellationToken cancellationToken)
    {
        TrainingLog.Starting(Runner.Logger, Runner.Stage, first, Epochs, Runner.Device.ToString(), Loader.Dataset.Count, Loader.BatchSize);
        for (int epoch = first; epoch < Epochs; epoch++)
        {
            double rate = LearningRate(epoch);
            Optimization.SetLearningRate(Optimizer, rate);
            BeginEpoch(epoch);
            int phaseEpoch = epoch;
            var record = Runner.Run(Optimizer, Loader, SeedOffset + epoch, RecordOffset + epoch, rate,
                (images, labels, step) => Step(images, labels, phaseEpoch, step), AfterStep, cancellationToken, StepLimit?.Invoke(epoch));
            if (EndEpoch is not null) record = EndEpoch(epoch, record);
            history.Add(record);
            TrainingLog.EpochDone(Runner.Logger, Runner.Stage, epoch + 1, Epochs, record.Loss.Total, record.Loss.Classification, record.Loss.Reconstruction,
                record.Loss.TotalVariation, record.TrainAccuracy, record.ValidationAccuracy?.ToString("P2", CultureInfo.InvariantCulture) ?? "n/a",
                record.LearningRate, record.ImagesPerSecond);
            // Observers first, then the checkpoint: a run killed between the two reruns this epoch with the same bits, so
            // what an observer keeps per epoch (the runner's curve point) is recorded again rather than lost.
            EpochCompleted(new EpochCompletedEventArgs(Runner.Stage, record, Epochs, Network));
            SaveCheckpoint?.Invoke(epoch, history);
        }
    }
}
