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
/// Adversarial Neuron Pruning: learns a mask m in [0, 1] for every BatchNorm channel (neuron) on the clean
/// holdout, minimising alpha CE(clean) + (1 - alpha) CE(under the worst multiplicative neuron noise within eps).
/// Backdoor neurons are the ones that make the network fragile to such noise, so their masks fall; neurons
/// with a mask below a threshold are then pruned (their BatchNorm scale set to 0). Nothing else changes:
/// ANP does not fine-tune.
/// </summary>
/// <remarks>
/// <para>Wu and Wang, "Adversarial Neuron Perturbations Purify Backdoored Models", NeurIPS 2021; mechanics as
/// the authors' code and BackdoorBench's <c>anp</c>: noise drawn uniformly in [-eps, eps] each iteration,
/// <see cref="AdversarialNeuronPruningOptions.NoiseSteps"/> signed ascent steps on it, the network in training
/// mode while the masks learn. The noise is projected back into [-eps, eps] after each step, as the paper's
/// constraint states.</para>
/// <para>The threshold is the largest multiple of <see cref="AdversarialNeuronPruningOptions.ThresholdStep"/>
/// whose pruned network keeps <see cref="AdversarialNeuronPruningOptions.MinAccuracyRatio"/> of the validation
/// accuracy, the search stopping at the first level below it. The paper prunes at a fixed 0.2
/// (<see cref="AdversarialNeuronPruningOptions.FixedThreshold"/>); some published leaderboards pick the level
/// with the test set; this implementation never sees it.</para>
/// </remarks>
public sealed class AdversarialNeuronPruning : ModelRepairDefense<AdversarialNeuronPruningResult>
{
    /// <summary>The paper's fixed pruning threshold, reported for comparison.</summary>
    public const double PaperThreshold = 0.2;

    private const string Stage = "anp";
    private readonly AdversarialNeuronPruningOptions options;
    private readonly ILogger logger;

    /// <summary>Creates the defense; the options are validated and copied.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Some option is invalid (all are named).</exception>
    public AdversarialNeuronPruning(AdversarialNeuronPruningOptions options, ILogger<AdversarialNeuronPruning>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        this.options = options.Clone();
        this.logger = logger ?? NullLogger<AdversarialNeuronPruning>.Instance;
    }

    /// <summary>Raised once the masks are learned, before pruning: every neuron's mask (to inspect or plot them).</summary>
    public event EventHandler<NeuronMasksEventArgs>? MasksLearned;

    /// <summary>The options in use (a copy).</summary>
    public AdversarialNeuronPruningOptions Options => options.Clone();

    /// <inheritdoc />
    public override string Name => "anp";



    /// <summary>Learns the masks and prunes a copy of <paramref name="model"/>.</summary>
    /// <param name="model">The trained, possibly backdoored network; it is not modified.</param>
    /// <param name="backbone">The backbone <paramref name="model"/> was built from.</param>
    /// <param name="holdout">Clean, trusted images; split into a mask-optimisation part and a validation part.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <returns>The pruned copy with the threshold, the neurons pruned and the validation accuracy before and after.</returns>
    /// <exception cref="NotSupportedException">The network has no affine BatchNorm2d layer.</exception>
    public override AdversarialNeuronPruningResult Fit(TrapNetwork model, IBackbone backbone, ImageDataset holdout, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(holdout);
        PeerModels.CheckData(backbone, holdout, nameof(holdout));
        TorchRuntime.Prepare(options.Threads);
        var device = options.Device.ToTorch();
        var total = Stopwatch.StartNew();

        var (trainPart, validationPart) = PeerModels.SplitHoldout(holdout, options.ValidationFraction, options.DataSeed);
        using var trainData = trainPart;
        using var validation = validationPart;
        if (trainData.Count == 0 || validation.Count == 0)
            throw new ArgumentException($"the holdout of {holdout.Count} images is too small to split with ValidationFraction {options.ValidationFraction}", nameof(holdout));

        var (masks, history) = LearnMasks(model, backbone, trainData, validation, device, cancellationToken);
        MasksLearned?.Invoke(this, new NeuronMasksEventArgs(masks));

        var network = PeerModels.Copy(model, backbone, options.ModelSeed, device);
        try
        {
            double unpruned = PeerModels.ValidationAccuracy(network, validation, device, options.ChannelsLast)!.Value;
            var (threshold, accuracy) = options.FixedThreshold is { } fixedThreshold
                ? (fixedThreshold, PrunedAccuracy(model, backbone, masks, fixedThreshold, validation, device))
                : ChooseThreshold(model, backbone, masks, validation, unpruned, device);
            var pruned = masks.Where(m => m.Value < threshold).ToList();
            Prune(network, pruned);
            PeerLog.NeuronsPruned(logger, pruned.Count, masks.Count, threshold, accuracy, unpruned);
            network.eval();
            return new AdversarialNeuronPruningResult
            {
                Network = network,
                History = history,
                Seconds = total.Elapsed.TotalSeconds,
                Neurons = masks.Count,
                PrunedNeurons = pruned.Count,
                Threshold = threshold,
                NeuronsBelowPaperThreshold = masks.Count(m => m.Value < PaperThreshold),
                ValidationAccuracyUnpruned = unpruned,
                ValidationAccuracyPruned = accuracy,
            };
        }
        catch
        {
            network.Dispose();
            throw;
        }
    }

    /// <summary>Only the first half of <see cref="Fit(TrapNetwork, IBackbone, ImageDataset, CancellationToken)"/>: the learned mask of every BatchNorm channel of
    /// <paramref name="model"/> (which is not modified), for users who prune by their own rule.</summary>
    /// <param name="model">The trained, possibly backdoored network.</param>
    /// <param name="backbone">The backbone <paramref name="model"/> was built from.</param>
    /// <param name="data">Clean images to optimise on (all of them; no validation split is taken).</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    public IReadOnlyList<NeuronMask> LearnMasks(TrapNetwork model, IBackbone backbone, ImageDataset data, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(model);
        ArgumentNullException.ThrowIfNull(backbone);
        ArgumentNullException.ThrowIfNull(data);
        PeerModels.CheckData(backbone, data, nameof(data));
        if (data.Count == 0) throw new ArgumentException("no images to learn the masks on", nameof(data));
        TorchRuntime.Prepare(options.Threads);
        var device = options.Device.ToTorch();
        using var none = data.Subset([]);
        return LearnMasks(model, backbone, data, none, device, cancellationToken).Masks;
    }

    private (IReadOnlyList<NeuronMask> Masks, List<EpochRecord> History) LearnMasks(TrapNetwork model, IBackbone backbone, ImageDataset trainData,
        ImageDataset validation, Device device, CancellationToken cancellationToken)
    {
        using var work = PeerModels.Copy(model, backbone, options.ModelSeed, device);
        foreach (var p in work.parameters()) p.requires_grad = false;
        using var perturbation = new NeuronPerturbation(work, device);
        using var optimizer = Optimization.Create(OptimizerKind.Sgd, perturbation.Masks, options.MaskLearningRate, 0, options.MaskMomentum);
        var loader = new BatchLoader(trainData, options.BatchSize, shuffle: true, dropLast: false,
            new Augmentation { Padding = options.CropPadding, HorizontalFlip = options.HorizontalFlip }, options.DataSeed);
        int stepsPerPass = (trainData.Count + options.BatchSize - 1) / options.BatchSize;
        int passes = (options.Iterations + stepsPerPass - 1) / stepsPerPass;
        var history = new List<EpochRecord>();
        double eps = options.NoiseEpsilon;
        new EpochLoop
        {
            Runner = PeerModels.Runner(options, Stage, logger, device, OnStepCompleted),
            Optimizer = optimizer,
            Loader = loader,
            Network = work,
            Epochs = passes,
            LearningRate = _ => options.MaskLearningRate,
            BeginEpoch = _ => work.train(),
            // The budget is counted in iterations: the last pass stops where it runs out.
            StepLimit = pass => options.Iterations - pass * stepsPerPass,
            Step = (images, labels, _, _) =>
            {
                // Forward passes in the chosen precision, logits back in float32 for the losses.
                Tensor Logits() => MixedPrecision.Float32Output(options.Precision, () => work.call(images));
                Tensor? robust = null;
                if (eps > 0)
                {
                    // The worst noise within eps for this batch, then the loss under it.
                    perturbation.ResetNoise(eps);
                    perturbation.Perturbed = true;
                    for (int s = 0; s < options.NoiseSteps; s++)
                        perturbation.AscendNoise(() => nn.functional.cross_entropy(Logits(), labels), eps / options.NoiseSteps, eps);
                    robust = nn.functional.cross_entropy(Logits(), labels);
                }
                perturbation.Perturbed = false;
                var logits = Logits();
                var natural = nn.functional.cross_entropy(logits, labels);
                var loss = robust is null ? natural : natural.mul(options.TradeOff).add(robust.mul(1 - options.TradeOff));
                return new StepOutput(loss, logits, natural);
            },
            AfterStep = perturbation.ClampMasks,
            EndEpoch = (_, record) => record with { ValidationAccuracy = PeerModels.ValidationAccuracy(work, validation, device, options.ChannelsLast) },
            EpochCompleted = OnEpochCompleted,
        }.Run(0, history, cancellationToken);
        return (perturbation.MaskValues(), history);
    }

    /// <summary>The largest candidate threshold whose pruned network keeps the accuracy floor, stopping at the first that does not.</summary>
    private (double Threshold, double Accuracy) ChooseThreshold(TrapNetwork model, IBackbone backbone, IReadOnlyList<NeuronMask> masks,
        ImageDataset validation, double unpruned, Device device)
    {
        double floor = options.MinAccuracyRatio * unpruned;
        int candidates = (int)Math.Floor(options.MaxThreshold / options.ThresholdStep + 1e-9);
        double chosen = 0, chosenAccuracy = unpruned;
        for (int k = 1; k <= candidates; k++)
        {
            double threshold = Math.Round(k * options.ThresholdStep, 10); // 3 x 0.05 is 0.15000000000000002 otherwise
            double accuracy = PrunedAccuracy(model, backbone, masks, threshold, validation, device);
            if (accuracy < floor) break;
            chosen = threshold;
            chosenAccuracy = accuracy;
        }
        return (chosen, chosenAccuracy);
    }

    private double PrunedAccuracy(TrapNetwork model, IBackbone backbone, IReadOnlyList<NeuronMask> masks, double threshold, ImageDataset validation, Device device)
    {
        using var copy = PeerModels.Copy(model, backbone, options.ModelSeed, device);
        Prune(copy, masks.Where(m => m.Value < threshold));
        return PeerModels.ValidationAccuracy(copy, validation, device, options.ChannelsLast)!.Value;
    }

    /// <summary>Sets the BatchNorm scale of every listed neuron to 0 (ANP's pruning; the shift stays).</summary>
    internal static void Prune(TrapNetwork network, IEnumerable<NeuronMask> neurons)
    {
        var layers = network.named_modules().Where(m => m.module is BatchNorm2d).ToDictionary(m => m.name, m => (BatchNorm2d)m.module);
        using var noGrad = no_grad();
        foreach (var neuron in neurons)
            layers[neuron.Layer].weight![neuron.Channel] = 0f;
    }
}

/// <summary>The masks ANP learned, one per BatchNorm channel the network runs.</summary>
public sealed class NeuronMasksEventArgs(IReadOnlyList<NeuronMask> masks) : EventArgs
{
    /// <summary>Every neuron's mask, layer by layer in module order.</summary>
    public IReadOnlyList<NeuronMask> Masks { get; } = masks;
}
