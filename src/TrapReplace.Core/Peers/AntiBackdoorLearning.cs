using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using TorchSharp;
using TrapReplace.Data;
using TrapReplace.Defense;
using TrapReplace.Models;
using TrapReplace.Runtime;
using TrapReplace.Training;
using static TorchSharp.torch;

namespace TrapReplace.Peers;

/// <summary>
/// Anti-Backdoor Learning: trains a network from scratch on the untrusted data in three phases.
/// (1) Isolation: <see cref="AntiBackdoorLearningOptions.IsolationEpochs"/> epochs with local gradient
/// ascent, which holds the loss near gamma; backdoor samples are learned faster and end with a much
/// lower loss. (2) The <see cref="AntiBackdoorLearningOptions.IsolationRatio"/> share of samples with the
/// lowest loss (measured in eval mode without augmentation) is isolated and the network trains normally
/// on the rest. (3) Unlearning: gradient ascent on the cross-entropy of the isolated samples.
/// </summary>
/// <remarks>
/// <para>Li, Lyu, Koren, Lyu, Li and Ma, "Anti-Backdoor Learning: Training Clean Models on Poisoned Data",
/// NeurIPS 2021. ABL needs no clean holdout; it only sees the untrusted training set.</para>
/// <para>The isolation ranks the stored samples. Samples poisoned on the fly by a batch transform
/// (training-time attacks such as WaNet) are not stored, so they cannot be isolated; the transform is
/// applied during isolation and fine-tuning, as the attacker would have it, and not during unlearning.</para>
/// </remarks>
public sealed class AntiBackdoorLearning : IBackdoorDefense<AntiBackdoorLearningResult>
{
    private const string IsolationStage = "abl-isolation";
    private const string FinetuningStage = "abl-finetuning";
    private const string UnlearningStage = "abl-unlearning";
    private readonly AntiBackdoorLearningOptions options;
    private readonly ILogger logger;

    /// <summary>Creates the defense; the options are validated and copied.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Some option is invalid (all are named).</exception>
    public AntiBackdoorLearning(AntiBackdoorLearningOptions options, ILogger<AntiBackdoorLearning>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        this.options = options.Clone();
        this.logger = logger ?? NullLogger<AntiBackdoorLearning>.Instance;
    }

    /// <summary>Raised after every step (stage <c>abl-isolation</c>, <c>abl-finetuning</c> or <c>abl-unlearning</c>).</summary>
    public event EventHandler<TrainingStepEventArgs>? StepCompleted;

    /// <summary>Raised after every epoch (same stages).</summary>
    public event EventHandler<EpochCompletedEventArgs>? EpochCompleted;

    /// <summary>The options in use (a copy).</summary>
    public AntiBackdoorLearningOptions Options => options.Clone();

    /// <inheritdoc />
    public string Name => "abl";

    /// <summary>Trains a fresh network of <see cref="DefenseData.Backbone"/> on <see cref="DefenseData.Untrusted"/>
    /// (see <see cref="Fit(IBackbone, ImageDataset, IBatchTransform?, CancellationToken)"/>).</summary>
    /// <param name="data">The backbone, the untrusted set and (evaluation only) the batch transform.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    public AntiBackdoorLearningResult Fit(DefenseData data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        return Fit(data.Require(data.Backbone, nameof(data.Backbone), Name), data.Require(data.Untrusted, nameof(data.Untrusted), Name),
            data.BatchTransform, cancellationToken);
    }

    /// <summary>Trains a fresh network of <paramref name="backbone"/> on <paramref name="untrusted"/> with ABL.</summary>
    /// <param name="backbone">Architecture and split.</param>
    /// <param name="untrusted">The possibly poisoned training set.</param>
    /// <param name="batchTransform">Optional per-batch transform (training-time attacks), applied in the isolation and fine-tuning phases.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <returns>The network; <see cref="AntiBackdoorLearningResult.IsolatedIndices"/> lists the isolated samples. The history's
    /// training accuracy of the unlearning epochs is measured on the isolated samples.</returns>
    public AntiBackdoorLearningResult Fit(IBackbone backbone, ImageDataset untrusted, IBatchTransform? batchTransform = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(untrusted);
        PeerModels.CheckData(backbone, untrusted, nameof(untrusted));
        if (untrusted.Count < 2) throw new ArgumentException($"ABL needs at least 2 samples; got {untrusted.Count}", nameof(untrusted));
        TorchRuntime.Prepare(options.Threads);
        var device = options.Device.ToTorch();
        var total = Stopwatch.StartNew();
        var augmentation = new Augmentation { Padding = options.CropPadding, HorizontalFlip = options.HorizontalFlip };
        var history = new List<EpochRecord>();

        var network = ModelSeed.Build(options.ModelSeed, () => new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null) { Backbone = backbone });
        try
        {
            network.to(device);

            // Phase 1: isolation training with local gradient ascent (or flooding).
            var loader = new BatchLoader(untrusted, options.BatchSize, shuffle: true, dropLast: false, augmentation, options.DataSeed);
            RunPhase(network, IsolationStage, loader, options.IsolationEpochs, epoch => options.IsolationLearningRate, batchTransform, history, (images, labels) =>
            {
                var logits = MixedPrecision.Float32Output(options.Precision, () => network.call(images));
                var ce = nn.functional.cross_entropy(logits, labels);
                return new StepOutput(AscentObjective(ce, options.AscentLoss, options.Gamma), logits, ce);
            }, cancellationToken);

            // Isolation: the lowest-loss share of the stored samples.
            var losses = SampleLosses(network, untrusted, device);
            var isolated = LowestLoss(losses, options.IsolationRatio);
            double threshold = isolated.Max(i => losses[i]);
            PeerLog.Isolated(logger, isolated.Length, untrusted.Count, threshold);
            var isIsolated = new bool[untrusted.Count];
            foreach (var i in isolated) isIsolated[i] = true;
            var others = Enumerable.Range(0, untrusted.Count).Where(i => !isIsolated[i]).ToArray();

            // Phase 2: ordinary training on the rest.
            if (options.FinetuningEpochs > 0)
            {
                using var rest = untrusted.Subset(others, $"{untrusted.Name}-not-isolated");
                var restLoader = new BatchLoader(rest, options.BatchSize, shuffle: true, dropLast: false, augmentation, options.DataSeed);
                RunPhase(network, FinetuningStage, restLoader, options.FinetuningEpochs,
                    epoch => Optimization.CosineLearningRate(options.FinetuningLearningRate, epoch, options.FinetuningEpochs), batchTransform, history, (images, labels) =>
                    {
                        var logits = MixedPrecision.Float32Output(options.Precision, () => network.call(images));
                        var ce = nn.functional.cross_entropy(logits, labels);
                        return new StepOutput(ce, logits, ce);
                    }, cancellationToken);
            }

            // Phase 3: unlearning, maximising the cross-entropy of the isolated samples.
            if (options.UnlearningEpochs > 0)
            {
                using var suspects = untrusted.Subset(isolated, $"{untrusted.Name}-isolated");
                var suspectLoader = new BatchLoader(suspects, options.BatchSize, shuffle: true, dropLast: false, augmentation, options.DataSeed);
                RunPhase(network, UnlearningStage, suspectLoader, options.UnlearningEpochs, epoch => options.UnlearningLearningRate, null, history, (images, labels) =>
                {
                    var logits = MixedPrecision.Float32Output(options.Precision, () => network.call(images));
                    var ce = nn.functional.cross_entropy(logits, labels);
                    return new StepOutput(ce.neg(), logits, ce);
                }, cancellationToken);
            }

            network.eval();
            return new AntiBackdoorLearningResult
            {
                Network = network,
                History = history,
                Seconds = total.Elapsed.TotalSeconds,
                IsolatedIndices = isolated.Order().ToArray(),
                IsolationLossThreshold = threshold,
            };
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>The isolation-phase objective on a batch's mean cross-entropy (a scalar).</summary>
    internal static Tensor AscentObjective(Tensor ce, AscentLoss kind, double gamma) => kind == AscentLoss.Flooding
        ? ce.sub(gamma).abs().add(gamma)
        : ce.sub(gamma).sign().detach().mul(ce);

    /// <summary>Indices of the <c>floor(count x ratio)</c> lowest losses (at least one), lowest first; ties by index.</summary>
    internal static int[] LowestLoss(double[] losses, double ratio)
    {
        int take = Math.Max(1, (int)(losses.Length * ratio));
        return Enumerable.Range(0, losses.Length).OrderBy(i => losses[i]).ThenBy(i => i).Take(take).ToArray();
    }

    /// <summary>Per-sample cross-entropy of every stored sample, eval mode, no augmentation.</summary>
    internal static double[] SampleLosses(TrapNetwork network, ImageDataset data, Device device, int batchSize = 500)
    {
        network.eval();
        using var noGrad = no_grad();
        var losses = new double[data.Count];
        for (long start = 0; start < data.Count; start += batchSize)
        {
            using var scope = NewDisposeScope();
            long count = Math.Min(batchSize, data.Count - start);
            var images = PeerModels.FloatImages(data, start, count, device);
            var labels = data.Labels.narrow(0, start, count).to(device);
            var loss = nn.functional.cross_entropy(network.call(images), labels, reduction: nn.Reduction.None);
            var values = loss.to(ScalarType.Float64).cpu().data<double>().ToArray();
            Array.Copy(values, 0, losses, start, count);
        }
        return losses;
    }

    private void RunPhase(TrapNetwork network, string stage, BatchLoader loader, int epochs, Func<int, double> rateOf, IBatchTransform? batchTransform,
        List<EpochRecord> history, Func<Tensor, Tensor, StepOutput> step, CancellationToken cancellationToken)
    {
        var runner = new EpochRunner
        {
            ChannelsLast = options.ChannelsLast,
            Stage = stage,
            Logger = logger,
            Device = options.Device.ToTorch(),
            ModelSeed = options.ModelSeed,
            DataSeed = options.DataSeed,
            BatchTransform = batchTransform,
            StepCompleted = e => StepCompleted?.Invoke(this, e),
        };
        PeerLog.Starting(logger, stage, epochs, options.Device.ToString(), loader.Dataset.Count, options.BatchSize);
        using var optimizer = Optimization.Create(options.Optimizer, network.parameters(), rateOf(0), options.WeightDecay, options.Momentum);
        int offset = history.Count;
        for (int epoch = 0; epoch < epochs; epoch++)
        {
            double rate = rateOf(epoch);
            Optimization.SetLearningRate(optimizer, rate);
            network.train();
            var record = runner.Run(optimizer, loader, offset + epoch, offset + epoch, rate, step, null, cancellationToken);
            history.Add(record);
            runner.LogEpoch(record, epochs);
            EpochCompleted?.Invoke(this, new EpochCompletedEventArgs(stage, record, epochs, network));
        }
    }
}
