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
    private static readonly string[] Stages = [IsolationStage, FinetuningStage, UnlearningStage];

    /// <summary>The checkpoint's file name in <see cref="AntiBackdoorLearningOptions.CheckpointDirectory"/>.</summary>
    public const string CheckpointFileName = "abl.ckpt";
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

        var network = ModelSeed.Build(options.ModelSeed, () => new TrapNetwork(backbone.CreateStem(), backbone.CreateHead(), null) { Backbone = backbone });
        try
        {
            network.to(device);
            var run = ResumePoint(network);
            var history = new List<EpochRecord>(run.Saved?.History ?? []);
            // Wall time of the epochs an earlier, interrupted run finished, so the result counts the whole training.
            double earlierSeconds = history.Sum(h => h.Seconds);
            int savedPhase = run.Saved is null ? -1 : Array.IndexOf(Stages, run.Saved.Stage);

            // Phase 1: isolation training with local gradient ascent (or flooding).
            if (savedPhase <= 0)
            {
                var loader = new BatchLoader(untrusted, options.BatchSize, shuffle: true, dropLast: false, augmentation, options.DataSeed);
                RunPhase(network, IsolationStage, loader, options.IsolationEpochs, epoch => options.IsolationLearningRate, batchTransform, history, run, (images, labels) =>
                {
                    var logits = MixedPrecision.Float32Output(options.Precision, () => network.call(images));
                    var ce = nn.functional.cross_entropy(logits, labels);
                    return new StepOutput(AscentObjective(ce, options.AscentLoss, options.Gamma), logits, ce);
                }, cancellationToken);
            }

            // Isolation: the lowest-loss share of the stored samples (kept in the checkpoint: the network moves on).
            if (run.Isolated is null)
            {
                var losses = SampleLosses(network, untrusted, device);
                run.Isolated = LowestLoss(losses, options.IsolationRatio);
                run.Threshold = run.Isolated.Max(i => losses[i]);
            }
            var isolated = run.Isolated;
            PeerLog.Isolated(logger, isolated.Length, untrusted.Count, run.Threshold);
            var isIsolated = new bool[untrusted.Count];
            foreach (var i in isolated) isIsolated[i] = true;
            var others = Enumerable.Range(0, untrusted.Count).Where(i => !isIsolated[i]).ToArray();

            // Phase 2: ordinary training on the rest.
            if (options.FinetuningEpochs > 0 && savedPhase <= 1)
            {
                using var rest = untrusted.Subset(others, $"{untrusted.Name}-not-isolated");
                var restLoader = new BatchLoader(rest, options.BatchSize, shuffle: true, dropLast: false, augmentation, options.DataSeed);
                RunPhase(network, FinetuningStage, restLoader, options.FinetuningEpochs,
                    epoch => Optimization.CosineLearningRate(options.FinetuningLearningRate, epoch, options.FinetuningEpochs), batchTransform, history, run, (images, labels) =>
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
                RunPhase(network, UnlearningStage, suspectLoader, options.UnlearningEpochs, epoch => options.UnlearningLearningRate, null, history, run, (images, labels) =>
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
                Seconds = earlierSeconds + total.Elapsed.TotalSeconds,
                IsolatedIndices = isolated.Order().ToArray(),
                IsolationLossThreshold = run.Threshold,
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
            using var scope = StepScope.Begin();
            long count = Math.Min(batchSize, data.Count - start);
            var images = PeerModels.FloatImages(data, start, count, device);
            var labels = data.Labels.narrow(0, start, count).to(device);
            var loss = nn.functional.cross_entropy(network.call(images), labels, reduction: nn.Reduction.None);
            var values = loss.to(ScalarType.Float64).cpu().data<double>().ToArray();
            Array.Copy(values, 0, losses, start, count);
        }
        return losses;
    }

    // Where this run starts: the checkpoint of an interrupted run (its weights already loaded) or nothing, and the
    // isolated samples once they are known.
    private sealed class RunState(string? path, string optionsJson, CheckpointHeader? saved)
    {
        public string? Path { get; } = path;
        public string OptionsJson { get; } = optionsJson;
        public CheckpointHeader? Saved { get; } = saved;
        public int[]? Isolated { get; set; } = saved?.Isolated?.ToArray();
        public double Threshold { get; set; } = saved?.IsolationLossThreshold ?? 0;
    }

    private RunState ResumePoint(TrapNetwork network)
    {
        var optionsJson = Checkpoint.Identity(options, o => { var copy = o.Clone(); copy.CheckpointDirectory = null; copy.Resume = true; return copy; });
        string? path = options.CheckpointDirectory is null ? null : Path.Combine(options.CheckpointDirectory, CheckpointFileName);
        var saved = Checkpoint.TryResume(path, options.Resume, Stages, optionsJson, network, null, logger);
        // A checkpoint past isolation must carry the isolated samples; one that does not cannot be continued.
        if (saved is not null && saved.Stage != IsolationStage && saved.Isolated is not { Count: > 0 })
            throw new InvalidOperationException($"{path} was written after isolation but holds no isolated samples; delete it or choose another checkpoint directory.");
        if (saved is not null) TrainingLog.Resumed(logger, saved.Stage, path!, saved.CompletedEpochs);
        return new RunState(path, optionsJson, saved);
    }

    private void RunPhase(TrapNetwork network, string stage, BatchLoader loader, int epochs, Func<int, double> rateOf, IBatchTransform? batchTransform,
        List<EpochRecord> history, RunState run, Func<Tensor, Tensor, StepOutput> step, CancellationToken cancellationToken)
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
            CheckpointPath = run.Path,
            StepCompleted = e => StepCompleted?.Invoke(this, e),
        };
        using var optimizer = Optimization.Create(options.Optimizer, network.parameters(), rateOf(0), options.WeightDecay, options.Momentum);
        int first = 0;
        if (run.Saved is { } saved && saved.Stage == stage)
        {
            // The phase the interrupted run was in: its optimizer state too (the weights were loaded before phase 1).
            Checkpoint.Read(run.Path!, network, optimizer);
            first = saved.CompletedEpochs;
        }
        // Epochs are numbered (and seeded) continuously over the phases.
        int offset = history.Count - first;
        new EpochLoop
        {
            Runner = runner,
            Optimizer = optimizer,
            Loader = loader,
            Network = network,
            Epochs = epochs,
            LearningRate = rateOf,
            BeginEpoch = _ => network.train(),
            Step = (images, labels, _, _) => step(images, labels),
            SeedOffset = offset,
            RecordOffset = offset,
            EpochCompleted = e => EpochCompleted?.Invoke(this, e),
            SaveCheckpoint = run.Path is null ? null : (epoch, done) =>
                Checkpoint.Write(run.Path, new CheckpointHeader(stage, epoch + 1, done, run.OptionsJson, Isolated: run.Isolated,
                    IsolationLossThreshold: run.Isolated is null ? null : run.Threshold), network, optimizer),
        }.Run(first, history, cancellationToken);
    }
}
