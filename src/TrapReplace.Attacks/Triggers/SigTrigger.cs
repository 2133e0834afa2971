using System.Globalization;
using TorchSharp;
using static TorchSharp.torch;

namespace TrapReplace.Attacks.Triggers;

/// <summary>
/// The SIG trigger: a horizontal sinusoid that depends only on the column j (constant along each column,
/// the same on every channel), combined with the image in uint8 space (round(x·255), float64 arithmetic,
/// clip to [0, 255], truncate, divide by 255).
/// </summary>
/// <remarks>
/// <para>Barni, Kallas and Tondi, "A new backdoor attack in CNNs by training set corruption without label
/// poisoning", ICIP 2019.</para>
/// <para>Default (<see cref="SigMode.Reference"/>, α = 0.2) is the reference T&amp;R code's signal and blend, byte for byte.
/// <see cref="SigMode.Blend"/> blends a smooth 0–255 sinusoid of f periods (the <c>sig-smooth</c> attack);
/// <see cref="SigMode.Additive"/> with Δ = 40, f = 6 is the BackdoorBench setting. In those two the signal is evaluated
/// at the image's own width W, so f cycles span the image at any resolution.</para>
/// </remarks>
public sealed class SigTrigger : ITrigger
{
    /// <summary>Creates a SIG trigger.</summary>
    /// <param name="mode">How the sinusoid combines with the image.</param>
    /// <param name="alpha">Blend weight α in [0, 1] (<see cref="SigMode.Reference"/> and <see cref="SigMode.Blend"/>).</param>
    /// <param name="delta">Amplitude Δ on the 0–255 scale, in (0, 255] (<see cref="SigMode.Additive"/> only).</param>
    /// <param name="frequency">Number of periods f across the image width, greater than 0.</param>
    /// <exception cref="ArgumentOutOfRangeException">A parameter is out of range.</exception>
    public SigTrigger(SigMode mode = SigMode.Reference, double alpha = 0.2, double delta = 40.0, double frequency = 6.0)
    {
        if (!Enum.IsDefined(mode))
        {
            throw new ArgumentOutOfRangeException(nameof(mode), mode, "Unknown SIG mode.");
        }

        BuiltInTriggers.ValidateAlpha(alpha);
        if (!(delta > 0.0 && delta <= 255.0))
        {
            throw new ArgumentOutOfRangeException(nameof(delta), delta,
                string.Create(CultureInfo.InvariantCulture, $"The SIG amplitude must lie in (0, 255]; got {delta}."));
        }

        if (!(frequency > 0.0 && double.IsFinite(frequency)))
        {
            throw new ArgumentOutOfRangeException(nameof(frequency), frequency,
                string.Create(CultureInfo.InvariantCulture, $"The SIG frequency must be positive; got {frequency}."));
        }

        Mode = mode;
        Alpha = alpha;
        Delta = delta;
        Frequency = frequency;
    }

    /// <inheritdoc />
    /// <remarks>"sig-smooth" in <see cref="SigMode.Blend"/>, the attack that uses it; "sig" otherwise.</remarks>
    public string Name => Mode == SigMode.Blend ? "sig-smooth" : "sig";

    /// <summary>Gets how the sinusoid combines with the image.</summary>
    public SigMode Mode { get; }

    /// <summary>Gets the blend weight α.</summary>
    public double Alpha { get; }

    /// <summary>Gets the additive amplitude Δ (0–255 scale).</summary>
    public double Delta { get; }

    /// <summary>Gets the number of periods across the width.</summary>
    public double Frequency { get; }

    /// <summary>The signal added or blended at column <paramref name="column"/> of an image <paramref name="width"/> wide, 0–255 scale:
    /// uint8(trunc(20·sin(0.8·j))) in <see cref="SigMode.Reference"/> (negative values wrap modulo 256),
    /// ⌊127.5·(1 + sin(2π·j·f/W))⌋ in <see cref="SigMode.Blend"/>, Δ·sin(2π·j·f/W) in <see cref="SigMode.Additive"/>.</summary>
    /// <param name="column">Column index j, 0-based.</param>
    /// <param name="width">Image width W.</param>
    /// <returns>The signal value s(j).</returns>
    public double Signal(int column, int width)
    {
        if (Mode == SigMode.Reference)
        {
            // The reference casts a signed signal to uint8: -19 becomes 237.
            return (byte)(int)Math.Truncate(20.0 * Math.Sin(0.8 * column));
        }

        double sine = Math.Sin(2.0 * Math.PI * column * Frequency / width);
        return Mode == SigMode.Blend ? Math.Floor(127.5 * (1.0 + sine)) : Delta * sine;
    }

    /// <inheritdoc />
    public Tensor Apply(Tensor images)
    {
        PixelSpace.ValidateImages(images);
        using var scope = NewDisposeScope();
        int width = (int)images.shape[3];
        var signal = new double[width];
        for (int j = 0; j < width; j++)
        {
            signal[j] = Signal(j, width);
        }

        var s = tensor(signal, new long[] { 1, 1, 1, width }).to(images.device);
        var u = PixelSpace.ToUint8Space(images);
        var combined = Mode != SigMode.Additive ? u.mul(1.0 - Alpha).add_(s.mul(Alpha)) : u.add(s);
        return PixelSpace.FromUint8Space(combined, images.dtype).MoveToOuterDisposeScope();
    }
}
