-- The notes of examples/backend-rls. Every rule about who sees what is here, in Row Level
-- Security policies: the API's queries have no `where owner = …`.

create table if not exists public.notes (
  id bigint generated always as identity primary key,
  owner uuid not null default auth.uid(),
  body text not null check (length(body) between 1 and 10000),
  public boolean not null default false,
  created_at timestamptz not null default now()
);
create index if not exists notes_owner_idx on public.notes (owner, id);

alter table public.notes enable row level security;

drop policy if exists notes_read_own on public.notes;
create policy notes_read_own on public.notes
  for select to authenticated using (owner = (select auth.uid()) or public);
drop policy if exists notes_read_public on public.notes;
create policy notes_read_public on public.notes
  for select to anon using (public);
drop policy if exists notes_insert_own on public.notes;
create policy notes_insert_own on public.notes
  for insert to authenticated with check (owner = (select auth.uid()));
drop policy if exists notes_update_own on public.notes;
create policy notes_update_own on public.notes
  for update to authenticated using (owner = (select auth.uid())) with check (owner = (select auth.uid()));
drop policy if exists notes_delete_own on public.notes;
create policy notes_delete_own on public.notes
  for delete to authenticated using (owner = (select auth.uid()));

grant select on public.notes to anon;
grant select, insert, update, delete on public.notes to authenticated;
grant select, insert, update, delete on public.notes to service_role;
