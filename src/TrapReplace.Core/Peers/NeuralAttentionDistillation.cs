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
/// Neural Attention Distillation: fine-tunes a copy of the model on the clean holdout to get a
/// teacher, then trains the model itself (the student, again a copy: the input is not modified)
/// on the holdout with cross-entropy plus the attention-distillation loss between the teacher's
/// and the student's attention maps at two points: the stem output and the head's last spatial
/// features (the last 4-D output among the head's direct submodules: PreAct-ResNet-18's last residual
/// block, as BackdoorBench's layer 4; WideResNet's final BatchNorm before its activation).
/// </summary>
/// <remarks>Li, Lyu, Koren, Lyu, Li and Ma, "Neural Attention Distillation: Erasing Backdoor Triggers
/// from Deep Neural Networks", ICLR 2021. Nothing is selected on the validation split; it only reports.</remarks>
public sealed class NeuralAttentionDistillation : ModelRepairDefense<NeuralAttentionDistillationResult>
{
    private const string TeacherStage = "nad-teacher";
    private const string StudentStage = "nad-student";
    private readonly NeuralAttentionDistillationOptions options;
    private readonly ILogger logger;

    /// <summary>Creates the defense; the options are validated and copied.</summary>
    /// <exception cref="Microsoft.Extensions.Options.OptionsValidationException">Some option is invalid (all are named).</exception>
    public NeuralAttentionDistillation(NeuralAttentionDistillationOptions options, ILogger<NeuralAttentionDistillation>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.ThrowIfInvalid();
        this.options = options.Clone();
        this.logger = logger ?? NullLogger<NeuralAttentionDistillation>.Instance;
    }

    /// <summary>The options in use (a copy).</summary>
    public NeuralAttentionDistillationOptions Options => options.Clone();

    /// <inheritdoc />
    public override string Name => "nad";



    /// <summary>Runs NAD on a copy of <paramref name="model"/>.</summary>
    /// <param name="model">The trained, possibly backdoored network; it is not modified.</param>
    /// <param name="backbone">The backbone <paramref name="model"/> was built from.</param>
    /// <param name="holdout">Clean, trusted images.</param>
    /// <param name="cancellationToken">Stops between steps.</param>
    /// <returns>The student; the history holds the teacher's epochs, then the student's.</returns>
    public override NeuralAttentionDistillationResult Fit(TrapNetwork model, IBackbone backbone, ImageDataset holdout, CancellationToken cancellationToken = default)
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
        if (trainData.Count == 0) throw new ArgumentException("the holdout leaves no training image", nameof(holdout));
        var loader = new BatchLoader(trainData, options.BatchSize, shuffle: true, dropLast: false,
            new Augmentation { Padding = options.CropPadding, HorizontalFlip = options.HorizontalFlip }, options.DataSeed);
        var history = new List<EpochRecord>();
        double? teacherAccuracy = null, initialAccuracy = null, lossBefore = null, finalAccuracy = null, lossAfter = null;

        using var teacher = PeerModels.Copy(model, backbone, options.ModelSeed, device);
        using (var optimizer = Optimization.Create(options.Optimizer, teacher.parameters(), options.LearningRate, options.WeightDecay, options.Momentum))
        {
            new EpochLoop
            {
                Runner = PeerModels.Runner(options, TeacherStage, logger, device, OnStepCompleted),
                Optimizer = optimizer,
                Loader = loader,
                Network = teacher,
                Epochs = options.TeacherEpochs,
                LearningRate = epoch => Optimization.CosineLearningRate(options.LearningRate, epoch, options.TeacherEpochs),
                BeginEpoch = _ => teacher.train(),
                Step = (images, labels, _, _) =>
                {
                    var logits = MixedPrecision.Float32Output(options.Precision, () => teacher.call(images));
                    var ce = nn.functional.cross_entropy(logits, labels);
                    return new StepOutput(ce, logits, ce);
                },
                EndEpoch = (_, record) => record with { ValidationAccuracy = PeerModels.ValidationAccuracy(teacher, validation, device, options.ChannelsLast) },
                EpochCompleted = OnEpochCompleted,
            }.Run(0, history, cancellationToken);
        }
        teacher.eval();
        foreach (var p in teacher.parameters()) p.requires_grad = false;

        var student = PeerModels.Copy(model, backbone, options.ModelSeed, device);
        try
        {
            using var teacherPoints = new AttentionPoints(teacher);
            using var studentPoints = new AttentionPoints(student);
            if (validation.Count > 0)
            {
                teacherAccuracy = PeerModels.ValidationAccuracy(teacher, validation, device, options.ChannelsLast)!.Value;
                initialAccuracy = PeerModels.ValidationAccuracy(student, validation, device, options.ChannelsLast)!.Value;
                lossBefore = AttentionDistance(studentPoints, teacherPoints, validation, device);
            }

            using var optimizer = Optimization.Create(options.Optimizer, student.parameters(), options.LearningRate, options.WeightDecay, options.Momentum);
            new EpochLoop
            {
                Runner = PeerModels.Runner(options, StudentStage, logger, device, OnStepCompleted),
                Optimizer = optimizer,
                Loader = loader,
                Network = student,
                Epochs = options.Epochs,
                LearningRate = epoch => Optimization.CosineLearningRate(options.LearningRate, epoch, options.Epochs),
                BeginEpoch = _ => student.train(),
                // The student's batches are seeded as the teacher's were; its records number on after the teacher's.
                RecordOffset = options.TeacherEpochs,
                Step = (images, labels, _, _) =>
                {
                    // Forward passes under the chosen precision; logits and attention features back in float32 for the losses.
                    Tensor logits, stemFeatures, headFeatures, teacherStem, teacherHead;
                    using (MixedPrecision.ScopeFor(options.Precision))
                    {
                        (logits, stemFeatures, headFeatures) = studentPoints.Forward(images);
                        using (no_grad()) (_, teacherStem, teacherHead) = teacherPoints.Forward(images);
                    }
                    if (options.Precision != Precision.Float32)
                        (logits, stemFeatures, headFeatures, teacherStem, teacherHead) = (logits.to(ScalarType.Float32), stemFeatures.to(ScalarType.Float32),
                            headFeatures.to(ScalarType.Float32), teacherStem.to(ScalarType.Float32), teacherHead.to(ScalarType.Float32));
                    var ce = nn.functional.cross_entropy(logits, labels);
                    var loss = ce
                        + options.StemAttentionWeight * AttentionDistillation.Loss(stemFeatures, teacherStem, options.AttentionPower)
                        + options.HeadAttentionWeight * AttentionDistillation.Loss(headFeatures, teacherHead, options.AttentionPower);
                    return new StepOutput(loss, logits, ce);
                },
                EndEpoch = (_, record) => record with { ValidationAccuracy = PeerModels.ValidationAccuracy(student, validation, device, options.ChannelsLast) },
                EpochCompleted = OnEpochCompleted,
            }.Run(0, history, cancellationToken);
            if (validation.Count > 0)
            {
                finalAccuracy = PeerModels.ValidationAccuracy(student, validation, device, options.ChannelsLast)!.Value;
                lossAfter = AttentionDistance(studentPoints, teacherPoints, validation, device);
            }
            student.eval();
            return new NeuralAttentionDistillationResult
            {
                Network = student,
                History = history,
                Seconds = total.Elapsed.TotalSeconds,
                TeacherEpochs = options.TeacherEpochs,
                TeacherValidationAccuracy = teacherAccuracy,
                ValidationAccuracyInitial = initialAccuracy,
                ValidationAccuracyFinal = finalAccuracy,
                AttentionLossBefore = lossBefore,
                AttentionLossAfter = lossAfter,
            };
        }
        catch
        {
            student.Dispose();
            throw;
        }
    }

    /// <summary>Sample-weighted mean of the unweighted attention losses (stem + head) over <paramref name="data"/>, both networks in eval mode.</summary>
    private double AttentionDistance(AttentionPoints student, AttentionPoints teacher, ImageDataset data, Device device)
    {
        student.Network.eval();
        teacher.Network.eval();
        using var noGrad = no_grad();
        double sum = 0;
        for (long start = 0; start < data.Count; start += options.BatchSize)
        {
            using var scope = StepScope.Begin();
            long count = Math.Min(options.BatchSize, data.Count - start);
            var images = PeerModels.FloatImages(data, start, count, device);
            var (_, s1, s2) = student.Forward(images);
            var (_, t1, t2) = teacher.Forward(images);
            double loss = AttentionDistillation.Loss(s1, t1, options.AttentionPower).ToDouble() + AttentionDistillation.Loss(s2, t2, options.AttentionPower).ToDouble();
            sum += loss * count;
        }
        return sum / data.Count;
    }
}

/// <summary>
/// Runs a network and returns, with the logits, its stem output and the head's last spatial features
/// (the last 4-D output among the head's direct submodules, caught by forward hooks). The features
/// live in the caller's dispose scope and carry the graph when gradients are on.
/// </summary>
internal sealed class AttentionPoints : IDisposable
{
    private readonly List<Action> removers = [];
    private Tensor? lastSpatial;

    public AttentionPoints(TrapNetwork network)
    {
        Network = network;
        foreach (var (_, child) in network.Head.Module.named_children())
        {
            if (child is not nn.Module<Tensor, Tensor> module) continue;
            var remover = module.register_forward_hook((_, input, output) =>
            {
                if (output.dim() != 4) return null!;
                // The head's own dispose scope would free a new output when its forward returns; a
                // pass-through (an empty Sequential) returns the caller's own tensor, which stays where it is.
                lastSpatial = ReferenceEquals(output, input) ? output : output.MoveToOuterDisposeScope();
                return null!;
            });
            removers.Add(remover.remove);
        }
    }

    public TrapNetwork Network { get; }

    public (Tensor Logits, Tensor Stem, Tensor Head) Forward(Tensor images)
    {
        lastSpatial = null;
        var stem = Network.Stem.Module.call(images);
        var logits = Network.Head.Module.call(stem);
        var head = lastSpatial ?? stem;
        lastSpatial = null;
        return (logits, stem, head);
    }

    public void Dispose()
    {
        foreach (var remove in removers) remove();
        removers.Clear();
    }
}
