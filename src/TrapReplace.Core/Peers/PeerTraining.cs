using System.Diagnostics;
using Microsoft.Extensions.Logging;
using TorchSharp;
using TorchSharp.Modules;
using TrapReplace.Data;
using TrapReplace.Evaluation;
using TrapReplace.Models;
using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Peers;

/// <summary>What one training step of a peer defense computed: the optimised loss, the logits and the
/// plain cross-entropy (for the logs), all scalars except the logits (B, classes).</summary>
internal readonly record struct StepOutput(Tensor Loss, Tensor Logits, Tensor Classification);

/// <summary>
/// The mini-batch loop the peer defenses share: seeded batches (data seed, epoch, step), a
/// per-step dispose scope and generator seed, a divergence check, step events, and an epoch record.
/// The caller sets train/eval modes and the learning rate; the loss is its own.
/// </summary>
internal sealed class PeerEpochRunner
{
    public required string Stage { get; init; }

    public required ILogger Logger { get; init; }

    public required Device Device { get; init; }

    public required int ModelSeed { get; init; }

    public required int DataSeed { get; init; }

    public IBatchTransform? BatchTransform { get; init; }

    public Action<TrainingStepEventArgs>? StepCompleted { get; init; }

    /// <summary>Runs one epoch of <paramref name="loader"/>.</summary>
    /// <param name="optimizer">Steps after each backward pass.</param>
    /// <param name="loader">Batches; <paramref name="epoch"/> picks the shuffle and augmentation.</param>
    /// <param name="epoch">Epoch within the phase (seeds batches and the generator).</param>
    /// <param name="recordEpoch">Epoch number written into the record (continuous over phases).</param>
    /// <param name="rate">Learning rate of the epoch (already set on the optimizer by the caller).</param>
    /// <param name="step">Computes the step's loss from images (B, 3, H, W) in [0, 1] and labels (B) on the device.</param>
    /// <param name="afterStep">Runs after every optimizer step (e.g. to keep pruned weights at zero).</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <param name="maxSteps">Stops the epoch after this many steps (for budgets counted in iterations); null runs the whole epoch.</param>
    public EpochRecord Run(OptimizerHelper optimizer, BatchLoader loader, int epoch, int recordEpoch, double rate,
        Func<Tensor, Tensor, StepOutput> step, Action? afterStep, CancellationToken cancellationToken, int? maxSteps = null)
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
                PeerLog.Cancelled(Logger, Stage, epoch);
                cancellationToken.ThrowIfCancellationRequested();
            }
            var stepClock = Stopwatch.StartNew();
            using var scope = NewDisposeScope();
            var batch = loader.Load(plan[s], epoch, s);
            var images = batch.Images.to(Device);
            var labels = batch.Labels.to(Device);
            if (BatchTransform is not null)
            {
                using var generator = new Generator((ulong)BatchLoader.MixSeed(DataSeed, epoch, s + 1_000_000));
                (images, labels) = BatchTransform.Transform(images, labels, generator);
            }
            manual_seed(BatchLoader.MixSeed(ModelSeed, epoch, s));

            optimizer.zero_grad();
            var output = step(images, labels);
            var parts = new LossParts(output.Loss.ToDouble(), output.Classification.ToDouble(), 0, 0);
            if (!double.IsFinite(parts.Total))
            {
                PeerLog.Diverged(Logger, Stage, epoch, s);
                throw new TrainingDivergedException(Stage, epoch, s, parts, null);
            }
            output.Loss.backward();
            optimizer.step();
            afterStep?.Invoke();

            int n = (int)labels.shape[0];
            sums.Add(parts, n);
            correct += output.Logits.argmax(1).eq(labels).sum().ToInt64();
            seen += n;
            StepCompleted?.Invoke(new TrainingStepEventArgs(Stage, epoch, s, plan.Length, parts, n / stepClock.Elapsed.TotalSeconds));
        }
        double seconds = clock.Elapsed.TotalSeconds;
        return new EpochRecord(recordEpoch, rate, sums.Mean(), seen == 0 ? 0 : (double)correct / seen, null, seconds, seconds > 0 ? seen / seconds : 0);
    }

    /// <summary>Logs the epoch.</summary>
    public void LogEpoch(EpochRecord record, int epochs) =>
        PeerLog.EpochDone(Logger, Stage, record.Epoch + 1, epochs, record.Loss.Total, record.Loss.Classification, record.TrainAccuracy,
            record.ValidationAccuracy?.ToString("P2", System.Globalization.CultureInfo.InvariantCulture) ?? "n/a", record.LearningRate, record.ImagesPerSecond);
}

/// <summary>Network and data helpers shared by the peer defenses.</summary>
internal static class PeerModels
{
    /// <summary>A new network of <paramref name="backbone"/> (no decoder) holding a copy of
    /// <paramref name="source"/>'s stem and head, on <paramref name="device"/>; <paramref name="source"/> is not modified.</summary>
    public static TrapNetwork Copy(TrapNetwork source, IBackbone backbone, int seed, Device device)
    {
        var network = ModelSeed.Build(seed, () => new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null));
        try
        {
            NetworkState.Copy(source.Stem.Module, network.Stem.Module, "stem");
            NetworkState.Copy(source.Head.Module, network.Head.Module, "head");
        }
        catch
        {
            network.Dispose();
            throw;
        }
        network.to(device);
        return network;
    }

    /// <summary>The classifier: the last <see cref="Linear"/> registered in the head, whose output must be the logits.</summary>
    /// <exception cref="NotSupportedException">The head has no linear layer.</exception>
    public static Linear Classifier(nn.Module head) =>
        head.named_modules().Select(m => m.module).OfType<Linear>().LastOrDefault()
        ?? throw new NotSupportedException("the classification head has no Linear layer; the defense needs the final linear classifier");

    /// <summary>Images <paramref name="start"/> .. start + count of <paramref name="data"/> as floats in [0, 1] on <paramref name="device"/> (in the caller's dispose scope).</summary>
    public static Tensor FloatImages(ImageDataset data, long start, long count, Device device) =>
        data.ImagesAsFloat(start, count).to(device);

    /// <summary>Accuracy on <paramref name="validation"/> in eval mode, or null when it is empty.</summary>
    public static double? ValidationAccuracy(TrapNetwork network, ImageDataset validation, Device device)
    {
        if (validation.Count == 0) return null;
        network.eval();
        return Evaluator.Accuracy(network, validation, device);
    }

    /// <summary>Checks the data matches the backbone (image size and class count).</summary>
    public static void CheckData(IBackbone backbone, ImageDataset data, string parameter)
    {
        var expected = backbone.InputShape;
        if (data.Height != expected.Height || data.Width != expected.Width)
            throw new ArgumentException($"{backbone.Name} expects {expected.Height}x{expected.Width} images; the data set '{data.Name}' has {data.Height}x{data.Width}", parameter);
        if (data.ClassCount != backbone.ClassCount)
            throw new ArgumentException($"{backbone.Name} was built for {backbone.ClassCount} classes; the data set '{data.Name}' has {data.ClassCount}", parameter);
    }

    /// <summary>Splits the clean holdout into a training part and a stratified, seeded validation part
    /// (both owned by the caller); a fraction of 0 keeps everything for training.</summary>
    public static (ImageDataset Train, ImageDataset Validation) SplitHoldout(ImageDataset holdout, double validationFraction, int seed)
    {
        if (validationFraction <= 0)
            return (holdout.Subset(Enumerable.Range(0, holdout.Count).ToArray()), holdout.Subset([]));
        return HoldoutSplit.Create(holdout.LabelArray(), validationFraction, seed).Apply(holdout);
    }
}
