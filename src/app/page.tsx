export default function HomePage() {
  return (
    <main>
      <h1>coaching-engine</h1>
      <p>
        The engine runs from Vercel cron: <code>/api/coaching/generateCoachingMessage/scheduler</code> hourly,
        fanning out to the processor route once per due user.
      </p>
    </main>
  );
}
