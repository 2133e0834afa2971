using System.Diagnostics;
using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.Modules;
using TrapReplace.Data;
using TrapReplace.Runtime;
using static TorchSharp.torch;

namespace TrapReplace.Training;

/// <summary>What one training step computed: the optimised loss, the logits, and scalar loss parts for the logs.</summary>
/// <param name="Loss">The loss the optimizer steps on.</param>
/// <param name="Logits">(B, classes), for the training accuracy.</param>
/// <param name="Classification">The plain cross-entropy part.</param>
/// <param name="Reconstruction">The reconstruction (MSE) part; null without a decoder.</param>
/// <param name="TotalVariation">The total-variation part; null without a decoder.</param>
/// <param name="AccuracyLabels">Labels the training accuracy counts against; null for the batch's own (CutMix counts its
/// majority labels).</param>
internal readonly record struct StepOutput(Tensor Loss, Tensor Logits, Tensor Classification, Tensor? Reconstruction = null,
    Tensor? TotalVariation = null, Tensor? AccuracyLabels = null);

/// <summary>
/// The one mini-batch loop behind stage 1, fine-tuning, head replacement and every peer defense: seeded batches (data
/// seed, epoch, step), the per-batch attack transform (WaNet), the memory layout, a step scope (tensors freed, no GC
/// inside: <see cref="StepScope"/>) and a generator seed per step, a divergence check that names the last good
/// checkpoint, step events, and the epoch's record. The caller sets train/eval modes and the learning rate,
/// checkpoints between epochs, and computes the step's loss.
/// </summary>
internal sealed class EpochRunner
{
    /// <summary>The stage's name in logs, events and errors.</summary>
    public required string Stage { get; init; }

    public required ILogger Logger { get; init; }

    public required Device Device { get; init; }

    /// <summary>Seeds torch's generator before every step (dropout and other in-network randomness).</summary>
    public required int ModelSeed { get; init; }

    /// <summary>Seeds the per-batch attack transform.</summary>
    public required int DataSeed { get; init; }

    /// <summary>Poisons each batch as it is drawn (a training-controlled attack); null for none.</summary>
    public IBatchTransform? BatchTransform { get; init; }

    /// <summary>Feed the network channels-last batches (after the transform, whatever layout it returns).</summary>
    public bool ChannelsLast { get; init; }

    /// <summary>The stage's epoch checkpoint, named by the divergence error when it exists; null without one.</summary>
    public string? CheckpointPath { get; init; }

    public Action<TrainingStepEventArgs>? StepCompleted { get; init; }

    /// <summary>Runs one epoch of <paramref name="loader"/>.</summary>
    /// <param name="optimizer">Steps after each backward pass.</param>
    /// <param name="loader">Batches; <paramref name="epoch"/> picks the shuffle and augmentation.</param>
    /// <param name="epoch">Epoch within the phase (seeds batches and the generator).</param>
    /// <param name="recordEpoch">Epoch number written into the record (continuous over phases).</param>
    /// <param name="rate">Learning rate of the epoch (already set on the optimizer by the caller).</param>
    /// <param name="step">Computes the step's loss from images (B, 3, H, W) in [0, 1], labels (B) on the device and the
    /// step's index within the epoch.</param>
    /// <param name="afterStep">Runs after every optimizer step (e.g. to keep pruned weights at zero).</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <param name="maxSteps">Stops the epoch after this many steps (for budgets counted in iterations); null runs the whole epoch.</param>
    public EpochRecord Run(OptimizerHelper optimizer, BatchLoader loader, int epoch, int recordEpoch, double rate,
        Func<Tensor, Tensor, int, StepOutput> step, Action? afterStep, CancellationToken cancellationToken, int? maxSteps = null)
    {
        var plan = loader.PlanEpoch(epoch);
        if (maxSteps is { } limit && limit < plan.Length) plan = plan[..limit];
        var sums = new LossAccumulator();
        long correct = 0, seen = 0;
        var clock = Stopwatch.StartNew();
        for (int s = 0; s < plan.Length; s++)
        {
            if (cancellationToken.IsCancellationRequested)
            {
                TrainingLog.Cancelled(Logger, Stage, epoch);
                cancellationToken.ThrowIfCancellationRequested();
            }
            var stepClock = Stopwatch.StartNew();
            using var scope = StepScope.Begin();
            var batch = loader.Load(plan[s], epoch, s);
            var images = batch.Images.to(Device);
            var labels = batch.Labels.to(Device);
            if (BatchTransform is not null)
            {
                using var generator = new Generator((ulong)BatchLoader.MixSeed(DataSeed, epoch, s + 1_000_000));
                (images, labels) = BatchTransform.Transform(images, labels, generator);
            }
            if (ChannelsLast) images = MemoryLayout.ToChannelsLast(images);
            optimizer.zero_grad();
            // Dropout and any other draw in the step come from the default generator, seeded per step under the
            // process-wide lock (TorchRuntime.Seeded), so a training beside this one cannot shift them.
            var output = TorchRuntime.Seeded(BatchLoader.MixSeed(ModelSeed, epoch, s), () => step(images, labels, s));
            var parts = new LossParts(output.Loss.ToDouble(), output.Classification.ToDouble(), output.Reconstruction?.ToDouble() ?? 0,
                output.TotalVariation?.ToDouble() ?? 0);
            if (!double.IsFinite(parts.Total))
            {
                TrainingLog.Diverged(Logger, Stage, epoch, s, CheckpointPath ?? "none");
                throw new TrainingDivergedException(Stage, epoch, s, parts, CheckpointPath is not null && File.Exists(CheckpointPath) ? CheckpointPath : null);
            }
            output.Loss.backward();
            optimizer.step();
            afterStep?.Invoke();

            int n = (int)labels.shape[0];
            sums.Add(parts, n);
            correct += output.Logits.argmax(1).eq(output.AccuracyLabels ?? labels).sum().ToInt64();
            seen += n;
            StepCompleted?.Invoke(new TrainingStepEventArgs(Stage, epoch, s, plan.Length, parts, n / stepClock.Elapsed.TotalSeconds));
        }
        double seconds = clock.Elapsed.TotalSeconds;
        return new EpochRecord(recordEpoch, rate, sums.Mean(), seen == 0 ? 0 : (double)correct / seen, null, seconds, seconds > 0 ? seen / seconds : 0);
    }

    /// <summary>Runs one epoch with a step that does not need its index.</summary>
    public EpochRecord Run(OptimizerHelper optimizer, BatchLoader loader, int epoch, int recordEpoch, double rate,
        Func<Tensor, Tensor, StepOutput> step, Action? afterStep, CancellationToken cancellationToken, int? maxSteps = null) =>
        Run(optimizer, loader, epoch, recordEpoch, rate, (images, labels, _) => step(images, labels), afterStep, cancellationToken, maxSteps);
}
