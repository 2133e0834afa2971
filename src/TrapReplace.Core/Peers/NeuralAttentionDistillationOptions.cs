using Microsoft.Extensions.Options;
using TrapReplace.Training;

namespace TrapReplace.Peers;

/// <summary>
/// Neural Attention Distillation settings (Li et al., "Neural Attention Distillation: Erasing Backdoor
/// Triggers from Deep Neural Networks", ICLR 2021). Defaults follow BackdoorBench's <c>nad</c> config for
/// CIFAR-10 (teacher 10 epochs, SGD lr 0.01, momentum 0.9, weight decay 1e-4, batch 256, p = 2,
/// betas 500/1000) and the paper's 20 student epochs; both phases use a cosine schedule where
/// BackdoorBench steps the student's rate down to 1e-4 after epoch 20.
/// </summary>
public sealed class NeuralAttentionDistillationOptions : ITrainingSchedule
{
    /// <summary>Epochs of fine-tuning the teacher (a copy of the model) on the clean holdout.</summary>
    /// <value>10 (BackdoorBench te_epochs).</value>
    public int TeacherEpochs { get; set; } = 10;

    /// <summary>Epochs of training the student (the model) with cross-entropy plus attention distillation.</summary>
    /// <value>20 (the paper).</value>
    public int Epochs { get; set; } = 20;

    /// <summary>Mini-batch size of both phases (the final incomplete batch is kept).</summary>
    /// <value>256.</value>
    public int BatchSize { get; set; } = 256;

    /// <summary>Optimizer of both phases.</summary>
    /// <value><see cref="OptimizerKind.Sgd"/>.</value>
    public OptimizerKind Optimizer { get; set; } = OptimizerKind.Sgd;

    /// <summary>Initial learning rate of both phases, cosine-annealed within each.</summary>
    /// <value>0.01.</value>
    public double LearningRate { get; set; } = 0.01;

    /// <summary>Weight decay.</summary>
    /// <value>1e-4.</value>
    public double WeightDecay { get; set; } = 1e-4;

    /// <summary>SGD momentum.</summary>
    /// <value>0.9.</value>
    public double Momentum { get; set; } = 0.9;

    /// <summary>Weight of the attention loss at the stem output (BackdoorBench's beta1, on PreAct-ResNet-18's layer 3).</summary>
    /// <value>500.</value>
    public double StemAttentionWeight { get; set; } = 500;

    /// <summary>Weight of the attention loss at the head's last spatial features (BackdoorBench's beta2, on layer 4;
    /// its beta3 acts on pooled features, where the normalised attention map is constant, and has no counterpart here).</summary>
    /// <value>1000.</value>
    public double HeadAttentionWeight { get; set; } = 1000;

    /// <summary>Exponent p of the attention map sum_c |a_c|^p.</summary>
    /// <value>2.</value>
    public double AttentionPower { get; set; } = 2;

    /// <summary>Share of the clean holdout kept aside (stratified, seeded) to report accuracy and attention
    /// distance; 0 trains on all of it and reports nothing. Nothing is selected on it.</summary>
    /// <value>0.1.</value>
    public double ValidationFraction { get; set; } = 0.1;

    /// <summary>Random-crop padding.</summary>
    /// <value>4.</value>
    public int CropPadding { get; set; } = 4;

    /// <summary>Random horizontal flips.</summary>
    /// <value>true.</value>
    public bool HorizontalFlip { get; set; } = true;

    /// <summary>Seed of the generator during training (dropout) and of building the copies.</summary>
    /// <value>0.</value>
    public int ModelSeed { get; set; }

    /// <summary>Seed of the validation split, shuffling and augmentation.</summary>
    /// <value>0.</value>
    public int DataSeed { get; set; }

    /// <summary>Device: <c>cpu</c>, <c>cuda</c> or <c>cuda:N</c>.</summary>
    /// <value><c>cpu</c>.</value>
    public ComputeDevice Device { get; set; } = ComputeDevice.Cpu;

    /// <summary>Feed the network channels-last batches (faster on CPU; the trainers and the replacer do the same).</summary>
    /// <value><c>true</c>.</value>
    public bool ChannelsLast { get; set; } = true;

    /// <summary>Intra-op threads to pin (0 = TorchSharp default).</summary>
    /// <value>0.</value>
    public int Threads { get; set; }

    /// <summary>The training forward passes' arithmetic (<see cref="Runtime.Precision"/>): teacher and student forward
    /// passes under bf16 autocast; the cross-entropy and the attention maps and their loss in float32.
    /// <value>Default <see cref="Runtime.Precision.Float32"/>.</value></summary>
    public Runtime.Precision Precision { get; set; } = Runtime.Precision.Float32;

    /// <summary>Every problem with the current values; empty when valid.</summary>
    public IReadOnlyList<string> Validate()
    {
        var errors = new List<string>();
        SettingChecks.Schedule(errors, this);
        if (TeacherEpochs < 1) errors.Add($"TeacherEpochs must be >= 1; got {TeacherEpochs}.");
        if (!(StemAttentionWeight >= 0) || double.IsInfinity(StemAttentionWeight)) errors.Add($"StemAttentionWeight must be >= 0; got {StemAttentionWeight}.");
        if (!(HeadAttentionWeight >= 0) || double.IsInfinity(HeadAttentionWeight)) errors.Add($"HeadAttentionWeight must be >= 0; got {HeadAttentionWeight}.");
        if (!(AttentionPower > 0) || double.IsInfinity(AttentionPower)) errors.Add($"AttentionPower must be > 0; got {AttentionPower}.");
        if (!(ValidationFraction >= 0 && ValidationFraction < 1)) errors.Add($"ValidationFraction must be in [0, 1); got {ValidationFraction}.");
        return errors;
    }

    /// <summary>Throws one <see cref="OptionsValidationException"/> naming every problem, if any.</summary>
    public void ThrowIfInvalid() => SettingChecks.ThrowIfAny(nameof(NeuralAttentionDistillationOptions), typeof(NeuralAttentionDistillationOptions), Validate());

    /// <summary>A copy.</summary>
    public NeuralAttentionDistillationOptions Clone() => (NeuralAttentionDistillationOptions)MemberwiseClone();
}
