using System.Text.Json.Serialization;
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
public sealed class NeuralAttentionDistillationOptions : TrainingSchedule
{
    /// <summary>Options with this stage's defaults.</summary>
    public NeuralAttentionDistillationOptions()
        : base(epochs: 20, batchSize: 256, optimizer: OptimizerKind.Sgd, learningRate: 0.01, weightDecay: 1e-4)
    {
    }

    /// <summary>Epochs of fine-tuning the teacher (a copy of the model) on the clean holdout.</summary>
    /// <value>10 (BackdoorBench te_epochs).</value>
    [JsonPropertyOrder(5)]
    public int TeacherEpochs { get; set; } = 10;

    /// <summary>Weight of the attention loss at the stem output (BackdoorBench's beta1, on PreAct-ResNet-18's layer 3).</summary>
    /// <value>500.</value>
    [JsonPropertyOrder(61)]
    public double StemAttentionWeight { get; set; } = 500;

    /// <summary>Weight of the attention loss at the head's last spatial features (BackdoorBench's beta2, on layer 4;
    /// its beta3 acts on pooled features, where the normalised attention map is constant, and has no counterpart here).</summary>
    /// <value>1000.</value>
    [JsonPropertyOrder(62)]
    public double HeadAttentionWeight { get; set; } = 1000;

    /// <summary>Exponent p of the attention map sum_c |a_c|^p.</summary>
    /// <value>2.</value>
    [JsonPropertyOrder(63)]
    public double AttentionPower { get; set; } = 2;

    /// <summary>Share of the clean holdout kept aside (stratified, seeded) to report accuracy and attention
    /// distance; 0 trains on all of it and reports nothing. Nothing is selected on it.</summary>
    /// <value>0.1.</value>
    [JsonPropertyOrder(64)]
    public double ValidationFraction { get; set; } = 0.1;

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
