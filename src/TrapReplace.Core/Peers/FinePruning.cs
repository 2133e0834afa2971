using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using TorchSharp.Modules;
using TrapReplace.Data;
using TrapReplace.Defense;
using TrapReplace.Models;
using TrapReplace.Runtime;
using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Peers;

/// <summary>
/// Fine-Pruning: measures the mean activation of every channel of the features that enter the final
/// linear classifier on clean data, prunes channels in increasing order of activation (dormant first:
/// backdoor neurons tend to be silent on clean inputs) as long as the validation accuracy stays at
/// least <see cref="FinePruningOptions.MinAccuracyRatio"/> of the unpruned one, then fine-tunes the
/// whole network on the clean data with the pruned channels kept at zero.
/// </summary>
/// <remarks>
/// <para>Liu, Dolan-Gavitt and Garg, "Fine-Pruning: Defending Against Backdooring Attacks on Deep Neural
/// Networks", RAID 2018; mechanics as BackdoorBench's <c>fp</c>: a channel is pruned by zeroing its input
/// column of the classifier (the last <c>Linear</c> of the head), which, after global average pooling,
/// is the same as removing the channel of the last feature map; one step prunes
/// ceil(channels x <see cref="FinePruningOptions.PruneStepRatio"/>) more channels, and the search stops
/// at the first level that breaks the accuracy floor.</para>
/// <para>The ranking uses the training part of the clean holdout and the level is chosen on its
/// validation part. Some published leaderboards (including BackdoorBench's) pick the level with the
/// test set or the attack success rate; this implementation never sees either.</para>
/// </remarks>
public sealed class FinePruning : ModelRepairDefense<FinePruningResult>
{
    private const string Stage = "fine-pruning";
    private readonly FinePruningOptions options;
    private readonly ILogger logger;

    /// <summary>Creates the defense; the options are validated and copied.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Some option is invalid (all are named).</exception>
    public FinePruning(FinePruningOptions options, ILogger<FinePruning>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        this.options = options.Clone();
        this.logger = logger ?? NullLogger<FinePruning>.Instance;
    }

    /// <summary>The options in use (a copy).</summary>
    public FinePruningOptions Options => options.Clone();

    /// <inheritdoc />
    public override string Name => "fine-pruning";



    /// <summary>Prunes and fine-tunes a copy of <paramref name="model"/>.</summary>
    /// <param name="model">The trained, possibly backdoored network; it is not modified.</param>
    /// <param name="backbone">The backbone <paramref name="model"/> was built from.</param>
    /// <param name="holdout">Clean, trusted images; split into a ranking/fine-tuning part and a validation part.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <returns>The pruned, fine-tuned copy with the channels pruned and the validation accuracy at each step.</returns>
    /// <exception cref="NotSupportedException">The head has no final linear classifier producing the logits.</exception>
    public override FinePruningResult Fit(TrapNetwork model, IBackbone backbone, ImageDataset holdout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(holdout);
        PeerModels.CheckData(backbone, holdout, nameof(holdout));
        TorchRuntime.Prepare(options.Threads);
        var device = options.Device.ToTorch();
        var total = Stopwatch.StartNew();

        var network = PeerModels.Copy(model, backbone, options.ModelSeed, device);
        try
        {
            var (trainPart, validationPart) = PeerModels.SplitHoldout(holdout, options.ValidationFraction, options.DataSeed);
            using var trainData = trainPart;
            using var validation = validationPart;
            if (trainData.Count == 0 || validation.Count == 0)
                throw new ArgumentException($"the holdout of {holdout.Count} images is too small to split with ValidationFraction {options.ValidationFraction}", nameof(holdout));

            var classifier = PeerModels.Classifier(network.Head.Module);
            int channels = (int)classifier.weight!.shape[1];
            double[] activation;
            using (var trainFeatures = ClassifierInputs(network, classifier, trainData, device))
                activation = MeanActivation(trainFeatures);
            var order = DormantFirst(activation);

            int pruned;
            double unprunedAccuracy, prunedAccuracy;
            using (var validationFeatures = ClassifierInputs(network, classifier, validation, device))
            using (var labels = validation.Labels.clone())
                (pruned, unprunedAccuracy, prunedAccuracy) = ChooseLevel(classifier, validationFeatures, labels, order);
            double floor = options.MinAccuracyRatio * unprunedAccuracy;
            PeerLog.PruningChosen(logger, pruned, channels, prunedAccuracy, unprunedAccuracy, floor);

            using var keep = ones(1, channels, dtype: classifier.weight.dtype, device: classifier.weight.device);
            using (no_grad())
            {
                foreach (var c in order.Take(pruned)) keep[0, c] = 0;
                classifier.weight.mul_(keep);
            }

            var history = FineTune(network, trainData, validation, classifier, keep, device, cancellationToken);
            double final = PeerModels.ValidationAccuracy(network, validation, device, options.ChannelsLast) ?? 0;
            network.eval();
            return new FinePruningResult
            {
                Network = network,
                History = history,
                Seconds = total.Elapsed.TotalSeconds,
                Channels = channels,
                PrunedChannels = pruned,
                ValidationAccuracyUnpruned = unprunedAccuracy,
                ValidationAccuracyPruned = prunedAccuracy,
                ValidationAccuracyFinal = final,
            };
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    private List<EpochRecord> FineTune(TrapNetwork network, ImageDataset trainData, ImageDataset validation, Linear classifier, Tensor keep, Device device,
        CancellationToken cancellationToken)
    {
        var history = new List<EpochRecord>();
        if (options.Epochs == 0) return history;
        using var optimizer = Optimization.Create(options.Optimizer, network.parameters(), options.LearningRate, options.WeightDecay, options.Momentum);
        var loader = new BatchLoader(trainData, options.BatchSize, shuffle: true, dropLast: false,
            new Augmentation { Padding = options.CropPadding, HorizontalFlip = options.HorizontalFlip }, options.DataSeed);
        new EpochLoop
        {
            Runner = PeerModels.Runner(options, Stage, logger, device, OnStepCompleted),
            Optimizer = optimizer,
            Loader = loader,
            Network = network,
            Epochs = options.Epochs,
            LearningRate = epoch => Optimization.CosineLearningRate(options.LearningRate, epoch, options.Epochs),
            BeginEpoch = _ => network.train(),
            Step = (images, labels, _, _) =>
            {
                var logits = MixedPrecision.Float32Output(options.Precision, () => network.call(images));
                var ce = nn.functional.cross_entropy(logits, labels);
                return new StepOutput(ce, logits, ce);
            },
            AfterStep = () =>
            {
                // Momentum and weight decay would revive pruned columns: zero them after every step.
                using var noGrad = no_grad();
                classifier.weight!.mul_(keep);
            },
            EndEpoch = (_, record) => record with { ValidationAccuracy = PeerModels.ValidationAccuracy(network, validation, device, options.ChannelsLast) },
            EpochCompleted = OnEpochCompleted,
        }.Run(0, history, cancellationToken);
        return history;
    }

    /// <summary>The largest pruning level, in steps, whose validation accuracy stays above the floor,
    /// stopping at the first level that falls below it (BackdoorBench's search).</summary>
    private (int Pruned, double Unpruned, double Accuracy) ChooseLevel(Linear classifier, Tensor features, Tensor labels, int[] order)
    {
        int channels = order.Length;
        using var weight = classifier.weight!.detach().cpu();
        using var bias = classifier.bias is null ? zeros(weight.shape[0]) : classifier.bias.detach().cpu();
        double unpruned = MaskedAccuracy(features, labels, weight, bias, order, 0);
        double floor = options.MinAccuracyRatio * unpruned;
        int step = Math.Max(1, (int)Math.Ceiling(channels * options.PruneStepRatio));
        int limit = Math.Min(channels - 1, (int)Math.Floor(channels * options.MaxPruneRatio + 1e-9));
        int chosen = 0;
        double chosenAccuracy = unpruned;
        for (int k = step; k <= limit; k += step)
        {
            double accuracy = MaskedAccuracy(features, labels, weight, bias, order, k);
            if (accuracy < floor) break;
            chosen = k;
            chosenAccuracy = accuracy;
        }
        return (chosen, unpruned, chosenAccuracy);
    }

    /// <summary>Accuracy of the classifier on cached input features (N, C) with the first <paramref name="pruned"/> channels of <paramref name="order"/> zeroed.</summary>
    internal static double MaskedAccuracy(Tensor features, Tensor labels, Tensor weight, Tensor bias, int[] order, int pruned)
    {
        using var scope = NewDisposeScope();
        var mask = ones(1, order.Length);
        foreach (var c in order.Take(pruned)) mask[0, c] = 0;
        var logits = features.matmul(weight.mul(mask).t()).add(bias);
        return logits.argmax(1).eq(labels).to(ScalarType.Float64).mean().ToDouble();
    }

    /// <summary>Channel indices sorted by increasing mean activation (ties by index).</summary>
    internal static int[] DormantFirst(double[] activation) =>
        Enumerable.Range(0, activation.Length).OrderBy(c => activation[c]).ThenBy(c => c).ToArray();

    /// <summary>Mean over samples of each channel of (N, C) features.</summary>
    internal static double[] MeanActivation(Tensor features)
    {
        using var mean = features.to(ScalarType.Float64).mean([0]);
        return mean.data<double>().ToArray();
    }

    /// <summary>
    /// The inputs (N, C) of <paramref name="classifier"/> when <paramref name="network"/> (eval mode, no
    /// gradients) runs on <paramref name="data"/>, on the CPU, caller-owned. After global average pooling
    /// these are the per-channel spatial means of the last feature map.
    /// </summary>
    /// <exception cref="NotSupportedException">The classifier's output is not the network's output.</exception>
    internal static Tensor ClassifierInputs(TrapNetwork network, Linear classifier, ImageDataset data, Device device, int batchSize = 256)
    {
        bool wasTraining = network.training;
        network.eval();
        var parts = new List<Tensor>();
        Tensor? captured = null;
        var hook = classifier.register_forward_pre_hook((_, input) =>
        {
            captured?.Dispose();
            captured = input.detach().clone().DetachFromDisposeScope();
            return null!;
        });
        try
        {
            using var noGrad = no_grad();
            for (long start = 0; start < data.Count; start += batchSize)
            {
                using var scope = StepScope.Begin();
                long count = Math.Min(batchSize, data.Count - start);
                var images = PeerModels.FloatImages(data, start, count, device);
                var logits = network.call(images);
                if (captured is null) throw new NotSupportedException("the classifier was not called during the forward pass");
                if (start == 0 && !classifier.forward(captured).allclose(logits, 1e-4, 1e-5))
                    throw new NotSupportedException("the head's last Linear layer does not produce the logits; the defense cannot prune its inputs");
                var part = captured.cpu();
                if (!ReferenceEquals(part, captured))
                {
                    part.DetachFromDisposeScope();
                    captured.Dispose();
                }
                parts.Add(part);
                captured = null;
            }
            if (parts.Count == 0) return zeros(0, classifier.weight!.shape[1]);
            return cat(parts, 0);
        }
        finally
        {
            hook.remove();
            captured?.Dispose();
            foreach (var p in parts) p.Dispose();
            network.train(wasTraining);
        }
    }
}
